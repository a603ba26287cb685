/** The pure conversions from Kubernetes objects to what the planner sees. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import {
  observeClaims,
  observePods,
  observeStatefulSet,
  ordinalOf,
  startFailure,
} from "../../../operator/src/controller/observe.ts";

function pod(name: string, extra: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { name, labels: { "controller-revision-hash": "rev-1" } },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
    ...extra,
  };
}

describe("observe", () => {
  it("reads ordinals only from <prefix>-<n>", () => {
    assert.equal(ordinalOf("demo-0", "demo"), 0);
    assert.equal(ordinalOf("demo-12", "demo"), 12);
    assert.equal(ordinalOf("demo-peers-0", "demo"), undefined);
    assert.equal(ordinalOf("demo-01", "demo"), undefined);
    assert.equal(ordinalOf("other-1", "demo"), undefined);
  });

  it("turns pods into ordinals, readiness, deletion and revision, sorted, ignoring foreign names", () => {
    const pods = observePods(
      [
        pod("demo-2", { status: { phase: "Pending" } }),
        pod("demo-0"),
        pod("demo-x"),
        pod("demo-1", { metadata: { name: "demo-1", deletionTimestamp: new Date(0) } }),
      ],
      "demo",
    );
    assert.deepEqual(
      pods.map((p) => [p.name, p.ordinal, p.phase, p.ready, p.deleting, p.revision]),
      [
        ["demo-0", 0, "Running", true, false, "rev-1"],
        ["demo-1", 1, "Running", true, true, ""],
        ["demo-2", 2, "Pending", false, false, "rev-1"],
      ],
    );
  });

  it("names why a pod cannot start: image, crash loop, unschedulable", () => {
    const waiting = (reason: string): V1Pod =>
      pod("demo-0", {
        status: {
          containerStatuses: [
            {
              name: "node",
              image: "x",
              imageID: "",
              ready: false,
              restartCount: 3,
              state: { waiting: { reason, message: "m" } },
            },
          ],
        },
      });
    assert.deepEqual(startFailure(waiting("ImagePullBackOff")), { reason: "ImagePullBackOff", message: "node: m" });
    assert.equal(startFailure(waiting("CrashLoopBackOff"))?.reason, "CrashLoopBackOff");
    assert.equal(startFailure(waiting("ContainerCreating")), undefined, "a container being created is no failure");
    const unschedulable = (message: string): V1Pod =>
      pod("demo-0", {
        status: { conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }] },
      });
    assert.equal(startFailure(unschedulable("0/1 nodes are available: 1 Insufficient cpu."))?.reason, "Unschedulable");
    // Found on a real cluster: for a moment the claim of a new pod does not exist yet.
    assert.equal(startFailure(unschedulable('persistentvolumeclaim "data-demo-0" not found')), undefined);
  });

  it("reads the StatefulSet and the data claims", () => {
    assert.deepEqual(
      observeStatefulSet({
        spec: { replicas: 3, selector: {}, template: {}, serviceName: "s" },
        status: { replicas: 3, readyReplicas: 2, updateRevision: "r2" },
      }),
      { replicas: 3, readyReplicas: 2, updateRevision: "r2" },
    );
    const claims: V1PersistentVolumeClaim[] = [
      { metadata: { name: "data-demo-1" } },
      { metadata: { name: "data-demo-0", deletionTimestamp: new Date(0) } },
      { metadata: { name: "other-demo-0" } },
    ];
    assert.deepEqual(observeClaims(claims, "demo"), [
      { name: "data-demo-0", ordinal: 0, deleting: true },
      { name: "data-demo-1", ordinal: 1, deleting: false },
    ]);
  });
});
