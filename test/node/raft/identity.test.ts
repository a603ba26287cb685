/**
 * Wiped disks. Raft's safety rests on servers keeping what they persisted
 * (Figure 2, thesis §3.8); a server whose disk is lost must rejoin as a new
 * member through a membership change (thesis §4). The core binds every member
 * to the incarnation it had when it was added and ignores votes and
 * acknowledgements from any other incarnation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../../node/src/raft/rng.ts";
import type { ConfChange, Entry } from "../../../node/src/raft/types.ts";
import { Cluster, type ClusterOptions, churn, msg, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];

function code(r: { ok: true } | { ok: false; code: string }): string {
  return r.ok ? "ok" : r.code;
}

/** s1 leads a three-voter cluster; s3's disk was wiped and it came back as `s3.1`. */
function wiped(opts: ClusterOptions = {}): Cluster {
  const c = new Cluster(three, opts);
  c.elect("s1");
  assert.ok(c.core("s1").propose("a").ok);
  c.settle();
  c.tickAll(2);
  const s3 = c.wipe("s3", "s3.1");
  assert.equal(s3.term, 0);
  assert.equal(s3.log.lastIndex(), 0);
  c.tickAll(2);
  return c;
}

test("§3.8 a wiped server is reported by staleMembers() and its acknowledgements are ignored", () => {
  const c = wiped();
  const s1 = c.core("s1");
  assert.deepEqual(s1.staleMembers(), [{ id: "s3", configured: "s3.0", seen: "s3.1" }]);
  assert.equal(c.core("s3").log.lastIndex(), 0, "it is not even fed the log");
  const match = s1.status().progress.s3?.match;
  c.cutLink("s1", "s2");
  const r = s1.propose("b");
  assert.ok(r.ok);
  c.settle();
  // Even an acknowledgement claiming the whole log does not count.
  s1.step(msg({ type: "appResp", from: "s3", to: "s1", term: s1.term, index: r.index, fromInc: "s3.1" }));
  c.settle();
  assert.equal(s1.status().progress.s3?.match, match);
  assert.ok(s1.log.committed < r.index, "s1 plus a wiped s3 is not a majority");
  // The same acknowledgement under the configured incarnation would have counted.
  s1.step(msg({ type: "appResp", from: "s3", to: "s1", term: s1.term, index: r.index, fromInc: "s3.0" }));
  c.settle();
  assert.equal(s1.log.committed, r.index);
});

test("§3.8 a blank server never campaigns", () => {
  const c = wiped();
  c.isolate("s3");
  const before = c.sent.length;
  c.tick("s3", 300);
  assert.equal(c.core("s3").state, "follower");
  assert.deepEqual(
    c.sent.slice(before).filter((m) => m.from === "s3"),
    [],
  );
});

test("§3.8 a wiped server's (pre-)vote does not elect anyone", () => {
  for (const preVote of [true, false]) {
    const c = wiped({ preVote });
    c.crash("s1");
    for (let k = 0; k < 100; k++) {
      c.tick("s2");
      c.tick("s3");
    }
    const grants = sentWhere(
      c,
      (m) => m.from === "s3" && m.to === "s2" && (m.type === "voteResp" || m.type === "preVoteResp") && !m.reject,
    );
    assert.ok(grants.length > 0, `preVote=${preVote}: the blank s3 does grant`);
    assert.notEqual(c.core("s2").state, "leader", `preVote=${preVote}: but s2 does not count it`);
  }
});

test("§3.8 a wiped server cannot help elect a leader that lacks an entry it had acknowledged (and the planted bug can)", () => {
  for (const ignoreIncarnation of [false, true]) {
    const c = new Cluster(three, { preVote: false, bugs: { ignoreIncarnation } });
    c.elect("s1");
    c.isolate("s2");
    const b = c.core("s1").propose("b");
    assert.ok(b.ok);
    c.settle();
    assert.equal(c.core("s1").log.committed, b.index, "committed by s1 and the old s3");
    c.wipe("s3", "s3.1"); // s3 forgets "b" ...
    c.crash("s1"); // ... and the only other copy is down
    c.heal();
    for (let k = 0; k < 100 && c.core("s2").state !== "leader"; k++) {
      c.tick("s2");
      c.tick("s3");
    }
    const s2 = c.core("s2");
    if (!ignoreIncarnation) {
      assert.notEqual(s2.state, "leader", "no leader without a real majority: safe, if unavailable");
    } else {
      assert.equal(s2.state, "leader", "planted bug: the wiped vote counted");
      assert.notEqual(s2.log.entry(b.index)?.data, "b", "and the new leader lacks committed entry b");
    }
  }
});

test("§3.8 a wiped voter keeps no leader in power: its heartbeat answers are not a quorum (check-quorum) nor confirm reads", () => {
  const c = wiped();
  const s1 = c.core("s1");
  c.isolate("s2");
  assert.ok(s1.readIndex("r").ok);
  const before = c.sent.length;
  c.tick("s1", 10);
  assert.ok(
    c.sent.slice(before).some((m) => m.type === "heartbeatResp" && m.from === "s3"),
    "s3 does answer heartbeats",
  );
  assert.deepEqual(c.reads.get("s1") ?? [], [], "the read is never confirmed");
  assert.equal(s1.state, "follower", "and s1 steps down after an election timeout");
});

test("§3.8 leadership cannot be transferred to a wiped voter", () => {
  const c = wiped();
  const s1 = c.core("s1");
  assert.ok(s1.transferLeader("s3").ok);
  c.tick("s1", 10);
  assert.deepEqual(
    sentWhere(c, (m) => m.type === "timeoutNow"),
    [],
  );
  assert.equal(s1.state, "leader");
  assert.equal(s1.status().transferee, "", "the transfer timed out");
});

test("§4.2.1 once re-added (addLearner under the new incarnation, then promote) the server counts again", () => {
  const c = wiped();
  const s1 = c.core("s1");
  assert.equal(code(s1.proposeConfChange({ op: "addLearner", id: "s3", incarnation: "s3.1" })), "ok");
  assert.deepEqual(s1.config.voters, { s1: "s1.0", s2: "s2.0" }, "re-adding demotes the old voter");
  assert.deepEqual(s1.config.learners, { s3: "s3.1" });
  c.settle();
  c.tick("s1", 3);
  assert.deepEqual(s1.staleMembers(), []);
  assert.equal(c.core("s3").log.lastIndex(), s1.log.lastIndex(), "the new incarnation receives the whole log");
  assert.deepEqual(c.appliedData("s3"), ["a"]);
  assert.equal(c.core("s3").promotable(), false, "a learner still");
  assert.equal(code(s1.proposeConfChange({ op: "promote", id: "s3" })), "ok");
  c.settle();
  c.tick("s1", 2);
  assert.deepEqual(s1.config.voters, { s1: "s1.0", s2: "s2.0", s3: "s3.1" });
  assert.equal(c.core("s3").promotable(), true);
  c.cutLink("s1", "s2");
  const r = s1.propose("b");
  assert.ok(r.ok);
  c.settle();
  assert.equal(s1.log.committed, r.index, "s1 and the new s3 are a majority");
});

test("§4.2.1 promoting a learner that answers under another incarnation is refused (BAD_CONFIG_CHANGE)", () => {
  const c = new Cluster(three);
  c.elect("s1");
  const s1 = c.core("s1");
  c.addBlank("s4");
  assert.ok(s1.proposeConfChange({ op: "addLearner", id: "s4", incarnation: "s4.0" }).ok);
  c.settle();
  c.tick("s1", 2);
  c.wipe("s4", "s4.1");
  c.tick("s1", 2);
  assert.deepEqual(s1.staleMembers(), [{ id: "s4", configured: "s4.0", seen: "s4.1" }]);
  assert.equal(code(s1.proposeConfChange({ op: "promote", id: "s4" })), "BAD_CONFIG_CHANGE");
  assert.deepEqual(s1.config.learners, { s4: "s4.0" });
});

test("§4/§3.8 membership changes, wiped disks, re-adds and snapshots under churn never break State Machine Safety or Election Safety", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  let changes = 0;
  let wipes = 0;
  let readds = 0;
  for (const seed of [2, 4, 12, 14, 17, 20, 28, 34]) {
    const c = new Cluster(["s1", "s2", "s3"], { catchUpEntries: 2, snapshotChunkSize: 5 });
    c.addBlank("s4");
    c.addBlank("s5");
    const rng = new Rng(seed * 31);
    const applied = new Map<number, Entry>();
    const leaders = new Map<number, string>();
    const incs = new Map<string, number>();
    c.onReady = (id, rd) => {
      for (const e of rd.committed) {
        const prev = applied.get(e.index);
        if (prev) assert.deepEqual(e, prev, `seed ${seed}: ${id} applied a different entry at ${e.index}`);
        else applied.set(e.index, e);
      }
      const core = c.cores.get(id);
      if (core?.state === "leader") {
        const other = leaders.get(core.term);
        assert.ok(other === undefined || other === id, `seed ${seed}: ${other} and ${id} both lead term ${core.term}`);
        leaders.set(core.term, id);
      }
    };
    c.elect("s1");
    churn(c, seed, 600, () => {
      const l = c.leader();
      const stale = l?.staleMembers()[0];
      if (l && stale && rng.chance(0.1)) {
        // The operator's reaction to staleMembers(): re-add under the new incarnation.
        if (l.proposeConfChange({ op: "addLearner", id: stale.id, incarnation: stale.seen }).ok) readds++;
        c.settle();
      }
      if (l && c.leader() === l && rng.chance(0.05)) {
        const id = rng.pick(ids);
        const inc = `${id}.${incs.get(id) ?? 0}`;
        const cc: ConfChange =
          l.config.learners[id] !== undefined
            ? { op: "promote", id }
            : l.config.voters[id] !== undefined && rng.chance(0.5)
              ? { op: "remove", id }
              : { op: "addLearner", id, incarnation: inc };
        if (l.proposeConfChange(cc).ok) changes++;
        c.settle();
      }
      if (rng.chance(0.004)) {
        const id = rng.pick(ids);
        if (!c.isDown(id)) {
          const n = (incs.get(id) ?? 0) + 1;
          incs.set(id, n);
          c.wipe(id, `${id}.${n}`);
          wipes++;
        }
      }
      if (rng.chance(0.05)) {
        const id = rng.pick(ids);
        const core = c.isDown(id) ? undefined : c.core(id);
        if (core && core.log.applied > core.status().snapshotIndex) {
          core.compact(core.log.applied, `state@${core.log.applied}`);
          c.settle();
        }
      }
    });
    assert.ok(applied.size > 30, `seed ${seed}: the run made progress`);
  }
  assert.ok(changes > 30 && wipes >= 6 && readds >= 3, `changes ${changes}, wipes ${wipes}, re-adds ${readds}`);
});
