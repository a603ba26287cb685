import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ConditionUpdate, mergeConditions } from "../../../operator/src/plan/conditions.ts";
import type { Condition } from "../../../operator/src/raftkv.ts";

const up = (status: Condition["status"], reason: string, message = "m"): ConditionUpdate => ({
  type: "Available",
  status,
  reason,
  message,
  observedGeneration: 2,
});

describe("mergeConditions", () => {
  it("stamps new conditions with now", () => {
    assert.deepEqual(mergeConditions(undefined, [up("True", "QuorumHealthy")], "T1"), [
      {
        type: "Available",
        status: "True",
        reason: "QuorumHealthy",
        message: "m",
        lastTransitionTime: "T1",
        observedGeneration: 2,
      },
    ]);
  });

  it("keeps the transition time while the status holds, even if reason and message change", () => {
    const prev = mergeConditions(undefined, [up("False", "NoLeader")], "T1");
    const next = mergeConditions(prev, [up("False", "QuorumLost", "other")], "T2");
    assert.equal(next[0]?.lastTransitionTime, "T1");
    assert.equal(next[0]?.reason, "QuorumLost");
    assert.equal(mergeConditions(next, [up("True", "QuorumHealthy")], "T3")[0]?.lastTransitionTime, "T3");
  });

  it("returns the same value for the same input (no status write loop)", () => {
    const prev = mergeConditions(undefined, [up("True", "QuorumHealthy")], "T1");
    assert.deepEqual(mergeConditions(prev, [up("True", "QuorumHealthy")], "T9"), prev);
  });

  it("drops conditions that are no longer computed", () => {
    const prev = mergeConditions(undefined, [up("True", "QuorumHealthy")], "T1");
    assert.deepEqual(mergeConditions(prev, [], "T2"), []);
  });
});
