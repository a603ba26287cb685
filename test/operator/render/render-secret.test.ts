import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { renderSecret } from "../../../operator/src/render/render-secret.ts";
import { raftkv } from "./fixtures.ts";

test("the Secret holds the given value under key secret", () => {
  const s = renderSecret(raftkv({}, { name: "demo", namespace: "prod" }), "a+b/c=d-é") as V1Secret;
  assert.equal(s.apiVersion, "v1");
  assert.equal(s.kind, "Secret");
  assert.equal(s.metadata?.name, "demo-raft");
  assert.equal(s.metadata?.namespace, "prod");
  assert.equal(s.type, "Opaque");
  assert.deepEqual(Object.keys(s.data ?? {}), ["secret"]);
  assert.equal(Buffer.from(s.data?.secret ?? "", "base64").toString("utf8"), "a+b/c=d-é");
  assert.equal(s.stringData, undefined);
});
