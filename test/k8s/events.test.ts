/**
 * KubeEventRecorder against a real API server: an events.k8s.io/v1 Event about a RaftKV with the
 * operator's reportingController and identity; duplicates within the window are written once; a refused
 * Event is logged, never thrown.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EventsV1Api } from "@kubernetes/client-node";
import { KubeEventRecorder, REPORTING_CONTROLLER } from "../../operator/src/kube/events.ts";
import { makeClients } from "../../operator/src/kube/kube-clients.ts";
import { createLogger } from "../../operator/src/log.ts";
import { API_VERSION, KIND } from "../../operator/src/raftkv.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";

let cp: ControlPlane;

describe("KubeEventRecorder", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("writes Events about a RaftKV, once per duplicate window, and only logs a refusal", async () => {
    const lines: string[] = [];
    const recorder = new KubeEventRecorder({
      clients: makeClients(cp.kc),
      identity: "operator-test-1",
      logger: createLogger("warn", {}, (l) => lines.push(l)),
    });
    const rkv = { metadata: { name: "demo", namespace: "default", uid: "0b7c4a2e-0000-4000-8000-000000000001" } };
    await recorder.record(rkv, "Normal", "ScalingUp", "adding member demo-3 as a learner");
    await recorder.record(rkv, "Normal", "ScalingUp", "adding member demo-3 as a learner");
    await recorder.record(rkv, "Warning", "QuorumLost", "1 of 3 voters healthy", "Observe");

    const events = await cp.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: "default" });
    const ours = events.items.filter((e) => e.regarding?.name === "demo");
    assert.equal(ours.length, 2, JSON.stringify(ours.map((e) => e.reason)));
    const up = ours.find((e) => e.reason === "ScalingUp");
    assert.equal(up?.type, "Normal");
    assert.equal(up?.note, "adding member demo-3 as a learner");
    assert.equal(up?.action, "ScalingUp");
    assert.equal(up?.reportingController, REPORTING_CONTROLLER);
    assert.equal(up?.reportingInstance, "operator-test-1");
    assert.deepEqual(
      [up?.regarding?.apiVersion, up?.regarding?.kind, up?.regarding?.namespace, up?.regarding?.uid],
      [API_VERSION, KIND, "default", rkv.metadata.uid],
    );
    const lost = ours.find((e) => e.reason === "QuorumLost");
    assert.equal(lost?.type, "Warning");
    assert.equal(lost?.action, "Observe");
    assert.deepEqual(lines, []);

    // A namespace that does not exist: the API refuses, record() resolves and logs.
    await recorder.record({ metadata: { name: "x", namespace: "no-such-namespace" } }, "Normal", "Created", "n");
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? "", /could not write event/);
    assert.match(lines[0] ?? "", /404/);
  });
});
