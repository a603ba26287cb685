import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { SERVICE_ROLE_LABEL, selectorLabels } from "../../../operator/src/render/names.ts";
import { renderClientService, renderPeerService } from "../../../operator/src/render/render-services.ts";
import { raftkv } from "./fixtures.ts";

const asService = (m: unknown) => m as V1Service;

test("the peer Service is headless and publishes pods before they are ready", () => {
  const r = raftkv({}, { name: "demo", namespace: "prod" });
  const s = asService(renderPeerService(r));
  assert.equal(s.apiVersion, "v1");
  assert.equal(s.kind, "Service");
  assert.equal(s.metadata?.name, "demo-peers");
  assert.equal(s.metadata?.namespace, "prod");
  assert.equal(s.spec?.clusterIP, "None");
  assert.equal(s.spec?.publishNotReadyAddresses, true);
  assert.deepEqual(s.spec?.selector, selectorLabels(r));
  assert.deepEqual(s.spec?.ports, [
    { name: "raft", port: 12000, targetPort: "raft", protocol: "TCP" },
    { name: "client", port: 11000, targetPort: "client", protocol: "TCP" },
  ]);
});

test("the client Service balances over ready pods on port client (which also serves /metrics)", () => {
  const r = raftkv({}, { name: "demo" });
  const s = asService(renderClientService(r));
  assert.equal(s.metadata?.name, "demo");
  assert.equal(s.spec?.type, "ClusterIP");
  assert.equal(s.spec?.clusterIP, undefined, "the API server assigns it");
  assert.equal(s.spec?.publishNotReadyAddresses, undefined);
  assert.deepEqual(s.spec?.selector, selectorLabels(r));
  assert.deepEqual(s.spec?.ports, [{ name: "client", port: 11000, targetPort: "client", protocol: "TCP" }]);
});

test("the two Services carry the common labels and a label telling them apart", () => {
  const r = raftkv();
  const peer = asService(renderPeerService(r)).metadata?.labels ?? {};
  const client = asService(renderClientService(r)).metadata?.labels ?? {};
  for (const [k, v] of Object.entries(selectorLabels(r))) {
    assert.equal(peer[k], v);
    assert.equal(client[k], v);
  }
  assert.equal(peer["app.kubernetes.io/managed-by"], "raftkv-operator");
  assert.equal(peer[SERVICE_ROLE_LABEL], "peers");
  assert.equal(client[SERVICE_ROLE_LABEL], "client");
});
