/**
 * apply() and patchStatus() against a real API server: server-side apply creates, leaves an unchanged
 * object alone, takes fields from other managers (force) and removes fields it stops applying; refusals
 * become KubeApiError with the HTTP status and the API server's message; status is written through the
 * status subresource, and a field left out of a later status is removed.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
} from "@kubernetes/client-node";
import { KubeApiError } from "../../operator/src/kube/api-error.ts";
import { makeClients } from "../../operator/src/kube/kube-clients.ts";
import { apply, patchStatus } from "../../operator/src/kube/server-side-apply.ts";
import { API_VERSION, GROUP, KIND, PLURAL, type RaftKV, VERSION } from "../../operator/src/raftkv.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { installRaftKVCrd } from "./install-crd.ts";

let cp: ControlPlane;

function cm(data: Record<string, string>): V1ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied", namespace: "default" }, data };
}

describe("server-side apply", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      await installRaftKVCrd(cp);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("creates, keeps an unchanged object's resourceVersion, forces over other managers, prunes dropped fields", async () => {
    const clients = makeClients(cp.kc);
    const core = cp.kc.makeApiClient(CoreV1Api);
    const wanted = cm({ a: "1", b: "2" });
    const created = await apply(clients, wanted);
    assert.deepEqual(created.data, { a: "1", b: "2" });
    assert.deepEqual(wanted.metadata, { name: "applied", namespace: "default" }, "the caller's object is untouched");
    const again = await apply(clients, cm({ a: "1", b: "2" }));
    assert.equal(again.metadata?.resourceVersion, created.metadata?.resourceVersion);

    // Another manager changes a field the operator owns; the next apply takes it back.
    await core.patchNamespacedConfigMap(
      { name: "applied", namespace: "default", body: { data: { a: "changed by hand", c: "3" } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const back = await apply(clients, cm({ a: "1" }));
    // a is the operator's again; b was only the operator's and is gone; c belongs to the other manager.
    assert.deepEqual(back.data, { a: "1", c: "3" });
    const managers = (back.metadata?.managedFields ?? []).map((f) => f.manager);
    assert.ok(managers.includes("raftkv-operator"), String(managers));
  });

  it("a refused apply is a KubeApiError with the status and the API server's message", async () => {
    const clients = makeClients(cp.kc);
    await assert.rejects(
      apply(clients, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "bad-data", namespace: "default" },
        data: { "not a key!": "x" },
      } as V1ConfigMap),
      (e: unknown) => {
        assert.ok(e instanceof KubeApiError, String(e));
        assert.equal(e.status, 422);
        assert.equal(e.reason, "Invalid");
        assert.match(e.apiMessage, /not a key!/);
        assert.match(e.message, /^apply ConfigMap default\/bad-data: HTTP 422 Invalid: /);
        return true;
      },
    );
    await assert.rejects(
      apply(clients, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "no-such-namespace" } }),
      (e: unknown) => e instanceof KubeApiError && e.status === 404 && /no-such-namespace/.test(e.apiMessage),
    );
  });

  it("patchStatus writes the status subresource and removes fields it no longer sets", async () => {
    const clients = makeClients(cp.kc);
    const custom = cp.kc.makeApiClient(CustomObjectsApi);
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: "default",
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: "st" }, spec: { replicas: 3 } },
    })) as RaftKV;
    const generation = created.metadata.generation;
    const condition = {
      type: "Available" as const,
      status: "True" as const,
      reason: "QuorumHealthy",
      message: "3 of 3 voters healthy",
      lastTransitionTime: "2026-01-01T00:00:00Z",
      observedGeneration: generation,
    };
    const written = await patchStatus(clients, created, {
      observedGeneration: generation,
      replicas: 3,
      leader: "st-0",
      term: 2,
      conditions: [condition],
    });
    assert.equal(written.status?.leader, "st-0");
    const read = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: "default",
      name: "st",
    })) as RaftKV;
    assert.equal(read.status?.term, 2);
    assert.deepEqual(read.status?.conditions, [condition]);
    assert.equal(read.metadata.generation, generation, "a status write does not bump the generation");

    const noLeader = await patchStatus(
      clients,
      { namespace: "default", name: "st" },
      { observedGeneration: generation, replicas: 3, term: 3 },
    );
    assert.equal(noLeader.status?.leader, undefined, "a field left out is removed, not left stale");
    assert.equal(noLeader.status?.conditions, undefined);
    assert.equal(noLeader.status?.term, 3);

    await assert.rejects(
      patchStatus(clients, { namespace: "default", name: "absent" }, { replicas: 1 }),
      (e: unknown) =>
        e instanceof KubeApiError && e.status === 404 && /^write status of RaftKV default\/absent/.test(e.message),
    );
  });
});
