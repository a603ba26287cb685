import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { renderBootstrapConfig } from "../../../operator/src/render/render-bootstrap-config.ts";
import { raftkv } from "./fixtures.ts";

test("the bootstrap ConfigMap holds BOOTSTRAP_EXPECT as given, whatever spec.replicas says", () => {
  const c = renderBootstrapConfig(raftkv({ replicas: 5 }, { name: "demo", namespace: "prod" }), 3) as V1ConfigMap;
  assert.equal(c.apiVersion, "v1");
  assert.equal(c.kind, "ConfigMap");
  assert.equal(c.metadata?.name, "demo-bootstrap");
  assert.equal(c.metadata?.namespace, "prod");
  assert.deepEqual(c.data, { BOOTSTRAP_EXPECT: "3" });
});
