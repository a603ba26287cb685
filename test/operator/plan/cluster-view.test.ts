import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hasHealthyMajority, majority, ordinalOf, viewCluster } from "../../../operator/src/plan/cluster-view.ts";
import { healthy } from "./fixtures.ts";

describe("cluster view", () => {
  it("majority and healthy majority", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(majority), [1, 2, 2, 3, 3, 5]);
    assert.equal(hasHealthyMajority([]), false);
    assert.equal(hasHealthyMajority([{ healthy: true }, { healthy: false }]), false);
    assert.equal(hasHealthyMajority([{ healthy: true }, { healthy: true }, { healthy: false }]), true);
  });

  it("reads ordinals from ids", () => {
    assert.equal(ordinalOf("my-kv-12"), 12);
    assert.equal(ordinalOf("node1"), undefined);
  });

  it("says why each member is unhealthy", () => {
    const v = viewCluster(
      healthy(
        6,
        {},
        {
          1: { silent: true },
          2: { answersAs: "new" },
          3: { knowsLeader: false },
          4: { match: 900 },
          5: { deleting: true },
        },
      ),
      64,
    );
    assert.deepEqual(
      v.members.map((m) => [m.id, m.healthy, m.problem?.replace(/ \(.*$/, "")]),
      [
        ["kv-0", true, undefined],
        ["kv-1", false, "its node does not answer /status"],
        ["kv-2", false, "its node answers under incarnation new, not inc-2"],
        ["kv-3", false, "its node does not know the leader"],
        ["kv-4", false, "it lags 100 entries behind the commit index"],
        ["kv-5", false, "its pod is terminating"],
      ],
    );
    assert.equal(v.members[2]?.stale, true);
    assert.equal(v.quorum, 4);
    assert.equal(v.healthyVoters, 1);
    assert.equal(v.memberFloor, 6);
  });

  it("ignores an answer under another id", () => {
    const o = healthy(3);
    const n = o.nodes["kv-1"];
    assert.ok(n?.ok);
    n.status.id = "kv-9";
    const v = viewCluster(o, 64);
    assert.match(v.members[1]?.problem ?? "", /answers as kv-9/);
  });
});
