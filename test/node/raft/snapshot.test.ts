/**
 * Log compaction and InstallSnapshot (Raft paper §7, Figure 13), with the
 * core's chunking and catch-up entries.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCore } from "../../../node/src/raft/core.ts";
import { Rng } from "../../../node/src/raft/rng.ts";
import type { Ready } from "../../../node/src/raft/types.ts";
import { Cluster, churn, logState, msg, outbox, readies, sentWhere } from "./harness.ts";

const three = ["s1", "s2", "s3"];
const DATA = "0123456789abcdefgh"; // 18 characters: chunks of 4 are 0,4,8,12,16

/** s1 leads; s3 missed ten entries that s1 then compacted away (behind a local snapshot with `local`). */
function behindSnapshot(opts: { snapshotChunkSize?: number; catchUpEntries?: number; local?: boolean } = {}) {
  const { local = false, ...core } = opts;
  const c = new Cluster(three, { catchUpEntries: 0, snapshotChunkSize: 4, ...core });
  c.elect("s1");
  c.tickAll(2);
  c.isolate("s3");
  const s1 = c.core("s1");
  for (let k = 0; k < 10; k++) assert.ok(s1.propose(`v${k}`).ok);
  c.settle();
  c.tick("s1");
  assert.equal(s1.log.applied, 12);
  s1.compact(12, local ? "book only" : DATA, local);
  c.settle();
  assert.equal(s1.log.firstIndex(), 13, "nothing left for s3 in the log");
  return c;
}

function snapsTo(c: Cluster, to: string): string[] {
  return sentWhere(c, (m) => m.type === "snap" && m.to === to).map((m) => `${m.offset}${m.done ? "!" : ""}`);
}

test("§7 'Each server takes snapshots independently': compact() keeps catchUpEntries entries and hands the snapshot to storage", () => {
  const c = new Cluster(three, { catchUpEntries: 2 });
  c.elect("s1");
  const s1 = c.core("s1");
  for (let k = 0; k < 8; k++) assert.ok(s1.propose(`v${k}`).ok);
  c.settle();
  assert.equal(s1.log.applied, 10);
  let rd: Ready | undefined;
  c.onReady = (id, r) => {
    if (id === "s1" && r.snapshot) rd = r;
  };
  s1.compact(10, "state@10");
  assert.equal(s1.log.snapIndex, 8, "entries up to 10 - catchUpEntries are dropped from memory");
  assert.equal(s1.log.firstIndex(), 9);
  assert.equal(s1.status().snapshotIndex, 10);
  c.settle();
  assert.ok(rd, "the Ready carries the snapshot");
  assert.equal(rd.snapshotRestore, false, "a local snapshot does not replace the state machine");
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.snapshot?.meta, { index: 10, term: 2, config: s1.config });
  assert.equal(rd.snapshot?.data, "state@10");
  const disk = c.disks.get("s1")?.state;
  assert.equal(disk?.snapshot?.meta.index, 10);
  assert.deepEqual(disk?.entries, [], "storage may drop every entry up to the snapshot");
  // Compacting again at or below the snapshot does nothing; beyond applied is a programming error.
  s1.compact(9, "older");
  assert.equal(s1.status().snapshotIndex, 10);
  assert.throws(() => s1.compact(11, "future"), /beyond applied/);
  // A restart starts from the snapshot.
  const again = c.restart("s1");
  assert.equal(again.log.snapIndex, 10);
  assert.equal(again.log.lastIndex(), 10);
  assert.equal(again.log.committed, 10);
  assert.deepEqual(again.config, s1.config);
});

test("§7 the entries kept behind a snapshot (catchUpEntries) let a slightly slow follower catch up without one", () => {
  const c = new Cluster(three, { catchUpEntries: 5 });
  c.elect("s1");
  const s1 = c.core("s1");
  for (let k = 0; k < 4; k++) assert.ok(s1.propose(`a${k}`).ok);
  c.settle();
  c.isolate("s3"); // s3 holds 1..6
  for (let k = 0; k < 4; k++) assert.ok(s1.propose(`b${k}`).ok);
  c.settle();
  c.tick("s1");
  s1.compact(10, "state@10");
  assert.equal(s1.log.firstIndex(), 6);
  c.heal();
  c.tick("s1", 3);
  assert.deepEqual(snapsTo(c, "s3"), [], "no snapshot needed");
  assert.equal(c.core("s3").log.lastIndex(), 10);
  assert.equal(c.appliedData("s3").length, 8);
});

test("§7 'the leader uses a new RPC called InstallSnapshot to send snapshots to followers that are too far behind', in chunks (Figure 13)", () => {
  const c = behindSnapshot();
  c.heal();
  c.tick("s1", 3);
  assert.deepEqual(snapsTo(c, "s3"), ["0", "4", "8", "12", "16!"], "18 characters in chunks of 4, in order");
  const s3 = c.core("s3");
  const restored = c.restored.get("s3") ?? [];
  assert.equal(restored.length, 1, "the follower restored it (Ready.snapshotRestore)");
  assert.equal(restored[0]?.data, DATA);
  assert.deepEqual(restored[0]?.meta.config, c.core("s1").config, "the snapshot carries the configuration");
  assert.equal(s3.log.snapIndex, 12);
  assert.equal(s3.log.committed, 12);
  assert.deepEqual(s3.config, c.core("s1").config);
  assert.equal(c.disks.get("s3")?.state.snapshot?.data, DATA);
  // Replication resumes right after the snapshot.
  const before = c.sent.length;
  assert.ok(c.core("s1").propose("after").ok);
  c.settle();
  c.tick("s1");
  const apps = c.sent.slice(before).filter((m) => m.type === "app" && m.to === "s3" && (m.entries ?? []).length > 0);
  assert.equal(apps[0]?.index, 12, "the next append follows the snapshot index");
  assert.deepEqual(c.appliedData("s3"), ["after"], "entries inside the snapshot are not replayed");
  assert.equal(s3.log.lastIndex(), 13);
  assert.equal(c.core("s1").status().progress.s3?.state, "replicate");
});

test("Figure 13 a lost chunk is sent again once heartbeats show the transfer stalled", () => {
  const c = behindSnapshot();
  let dropped = 0;
  c.filter = (m) => {
    if (m.type === "snap" && m.offset === 8 && dropped === 0) {
      dropped++;
      return false;
    }
    return true;
  };
  c.heal();
  c.tick("s1", 6);
  assert.equal(dropped, 1);
  assert.deepEqual(snapsTo(c, "s3"), ["0", "4", "8", "8", "12", "16!"], "only the lost chunk is repeated");
  assert.equal(c.restored.get("s3")?.[0]?.data, DATA);
  assert.equal(c.core("s3").log.committed, 12);
});

test("Figure 13 duplicated chunks and answers neither corrupt the snapshot nor multiply the transfer", () => {
  const c = behindSnapshot();
  c.dup = (m) => m.type === "snap" || m.type === "snapResp";
  c.heal();
  c.tick("s1", 3);
  assert.deepEqual(snapsTo(c, "s3"), ["0", "4", "8", "12", "16!"], "each chunk sent once");
  assert.equal(c.restored.get("s3")?.length, 1);
  assert.equal(c.restored.get("s3")?.[0]?.data, DATA);
});

test("Figure 13 chunks out of order: a stale first chunk restarts assembly, a gap is refused, the result is intact", () => {
  const f = new RaftCore(
    { id: "s3", seed: 3 },
    RaftCore.bootstrap("s3.0", { voters: { s1: "s1.0", s2: "s2.0", s3: "s3.0" }, learners: {} }),
  );
  readies(f);
  const meta = { index: 12, term: 2, config: f.config };
  const chunk = (offset: number) =>
    msg({
      type: "snap",
      from: "s1",
      to: "s3",
      term: 2,
      snapshot: meta,
      offset,
      chunk: DATA.slice(offset, offset + 8),
      done: offset + 8 >= DATA.length,
    });
  const answers = (): string[] => outbox(f).map((m) => `${m.type}:${m.offset ?? m.index}${m.reject ? "x" : ""}`);
  f.step(chunk(0));
  f.step(chunk(8));
  assert.deepEqual(answers(), ["snapResp:8", "snapResp:16"]);
  f.step(chunk(0)); // a late duplicate of the first chunk
  f.step(chunk(16)); // the last chunk no longer fits: refused, naming what is held
  assert.deepEqual(answers(), ["snapResp:8", "snapResp:8x"]);
  assert.equal(f.log.snapIndex, 0, "nothing installed from a broken sequence");
  f.step(chunk(8));
  f.step(chunk(8)); // duplicate: not appended twice
  f.step(chunk(16));
  const rds = readies(f);
  const rd = rds.find((r) => r.snapshot);
  assert.ok(rd);
  assert.equal(rd.snapshotRestore, true);
  assert.equal(rd.snapshot?.data, DATA);
  assert.deepEqual(
    rds.flatMap((r) => r.messages).map((m) => `${m.type}:${m.offset ?? m.index}`),
    ["snapResp:16", "snapResp:16", "appResp:12"],
  );
  assert.equal(f.log.snapIndex, 12);
  assert.equal(f.log.committed, 12);
});

test("Figure 13 a follower that lost a partial snapshot (restart) is sent the whole snapshot again", () => {
  const c = behindSnapshot();
  let restarted = false;
  c.filter = (m) => {
    if (m.type === "snap" && m.offset === 12 && !restarted) {
      restarted = true;
      c.restart("s3"); // the chunks it held were only in memory
    }
    return true;
  };
  c.heal();
  c.tick("s1", 6);
  assert.ok(restarted);
  assert.deepEqual(snapsTo(c, "s3"), ["0", "4", "8", "12", "0", "4", "8", "12", "16!"]);
  assert.equal(c.restored.get("s3")?.[0]?.data, DATA);
});

test("Figure 13 'If existing log entry has same index and term as snapshot's last included entry, retain log entries following it'", () => {
  const f = new RaftCore({ id: "s2", seed: 2 }, logState("s2", three, [2, 2, 2, 2], { term: 2 })); // 1..5
  readies(f);
  f.step(
    msg({
      type: "snap",
      from: "s1",
      to: "s2",
      term: 2,
      snapshot: { index: 4, term: 2, config: f.config },
      offset: 0,
      chunk: "S",
      done: true,
    }),
  );
  const rds = readies(f);
  assert.ok(
    rds.every((rd) => rd.snapshot === undefined),
    "no restore: the log already has it",
  );
  assert.equal(f.log.lastIndex(), 5, "entry 5 is kept");
  assert.equal(f.log.committed, 4, "the snapshot proves 1..4 committed");
  assert.deepEqual(
    rds.flatMap((rd) => rd.messages).map((m) => [m.type, m.index]),
    [["appResp", 4]],
  );
});

/**
 * Each node's state machine: the list of data it applied. A full snapshot is that list as JSON; a node
 * restarting from a local one gets back what its own store held then (`synced`, filled by the caller).
 */
function stateMachines(c: Cluster, ids: string[], synced = new Map<string, string[]>()): Map<string, string[]> {
  const sm = new Map<string, string[]>(ids.map((id) => [id, []]));
  const start = c.start.bind(c);
  c.start = (id) => {
    const snap = c.disks.get(id)?.state.snapshot;
    if (!snap) sm.set(id, []);
    else sm.set(id, snap.local ? [...(synced.get(id) ?? [])] : (JSON.parse(snap.data) as string[]));
    return start(id);
  };
  c.onReady = (id, rd) => {
    let s = sm.get(id) ?? [];
    if (rd.snapshot && rd.snapshotRestore) s = JSON.parse(rd.snapshot.data) as string[];
    for (const e of rd.committed) if (e.type === "normal") s.push(e.data);
    sm.set(id, s);
  };
  return sm;
}

/** Asserts that every replica holds the leader's state after a run that made progress; the snapshots installed. */
function agreed(c: Cluster, ids: string[], sm: Map<string, string[]>, seed: number): number {
  const ref = sm.get(c.leader()?.id ?? "s1") ?? [];
  assert.ok(ref.length > 40, `seed ${seed}: the run made progress`);
  for (const id of ids) assert.deepEqual(sm.get(id), ref, `seed ${seed}: ${id} agrees`);
  return ids.reduce((n, id) => n + (c.restored.get(id)?.length ?? 0), 0);
}

test("§7 followers rebuilt from snapshots end in the same state: replicas agree under churn with frequent compactions", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  let restores = 0;
  for (const seed of [1, 3, 4, 12]) {
    const c = new Cluster(ids, { catchUpEntries: seed % 2 === 0 ? 0 : 3, snapshotChunkSize: 7, maxEntriesPerMsg: 4 });
    const sm = stateMachines(c, ids);
    const rng = new Rng(seed * 77);
    c.elect("s1");
    churn(c, seed, 400, () => {
      if (!rng.chance(0.1)) return;
      const id = rng.pick(ids);
      if (c.isDown(id)) return;
      const core = c.core(id);
      if (core.log.applied > core.status().snapshotIndex) {
        core.compact(core.log.applied, JSON.stringify(sm.get(id)));
        c.settle();
      }
    });
    restores += agreed(c, ids, sm, seed);
  }
  assert.ok(restores >= 4, `followers did install snapshots (${restores})`);
});

test("a local snapshot compacts the log but is never sent: the core asks for a full one (snapshotWanted) and sends that", () => {
  const c = behindSnapshot({ local: true });
  const s1 = c.core("s1");
  assert.equal(s1.snapshot?.local, true);
  assert.equal(c.disks.get("s1")?.state.snapshot?.meta.index, 12, "storage records it");
  assert.equal(s1.snapshotWanted, false, "nobody needs it yet");
  c.heal();
  c.tick("s1", 3);
  assert.deepEqual(snapsTo(c, "s3"), [], "no chunk of a local snapshot leaves");
  assert.equal(s1.snapshotWanted, true, "s3 is behind the log: a full snapshot is wanted");
  // A later local compaction does not satisfy it; a full one at the same index replaces the local one.
  s1.compact(12, "book only again", true);
  assert.equal(s1.snapshotWanted, true);
  s1.compact(12, DATA);
  assert.equal(s1.snapshot?.local, undefined);
  assert.equal(s1.snapshotWanted, false);
  c.settle();
  c.tick("s1", 3);
  assert.deepEqual(snapsTo(c, "s3"), ["0", "4", "8", "12", "16!"], "the full snapshot is sent");
  assert.equal(c.restored.get("s3")?.[0]?.data, DATA);
  assert.equal(c.core("s3").log.committed, 12);
  // Replication goes on from the snapshot.
  assert.ok(s1.propose("after").ok);
  c.settle();
  c.tick("s1");
  assert.equal(c.core("s3").log.lastIndex(), 13, "replication resumed after the snapshot");
});

test("a full snapshot does not replace a local one below it, and a local one never replaces a newer full one", () => {
  const c = new Cluster(three, { catchUpEntries: 0 });
  c.elect("s1");
  const s1 = c.core("s1");
  for (let k = 0; k < 6; k++) assert.ok(s1.propose(`v${k}`).ok);
  c.settle();
  s1.compact(6, "full@6");
  s1.compact(6, "local@6", true);
  assert.equal(s1.snapshot?.data, "full@6", "a local snapshot at the same index as a full one is ignored");
  s1.compact(8, "local@8", true);
  assert.equal(s1.snapshot?.data, "local@8");
  s1.compact(7, "full@7");
  assert.equal(s1.snapshot?.data, "local@8", "an older full snapshot is ignored");
  assert.throws(() => s1.compact(9, "full@9"), /beyond applied/);
});

test("with local snapshots (full ones only when a follower wants one) replicas agree under churn too", () => {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  let restores = 0;
  let fulls = 0;
  for (const seed of [2, 5, 7, 12]) {
    const c = new Cluster(ids, { catchUpEntries: seed % 2 === 0 ? 0 : 3, snapshotChunkSize: 7, maxEntriesPerMsg: 4 });
    // What each node's own durable store held when it last compacted locally (the snapshot index's state).
    const synced = new Map<string, string[]>();
    const sm = stateMachines(c, ids, synced);
    const rng = new Rng(seed * 91);
    c.elect("s1");
    // The adapter's answer to a follower that needs a snapshot: a full one at the applied index.
    const materialize = () => {
      for (const id of ids) {
        if (c.isDown(id)) continue;
        const core = c.core(id);
        if (core.snapshotWanted && core.snapshot?.local) {
          core.compact(core.log.applied, JSON.stringify(sm.get(id)));
          fulls++;
          c.settle();
        }
      }
    };
    churn(c, seed, 400, () => {
      materialize();
      if (!rng.chance(0.15)) return;
      const id = rng.pick(ids);
      if (c.isDown(id)) return;
      const core = c.core(id);
      if (core.log.applied > core.status().snapshotIndex) {
        synced.set(id, [...(sm.get(id) ?? [])]);
        core.compact(core.log.applied, "local", true);
        c.settle();
      }
    });
    // The node's loop asks every cycle; here, every tick until the followers are level.
    for (let k = 0; k < 60; k++) {
      materialize();
      c.tickAll(1);
    }
    restores += agreed(c, ids, sm, seed);
    for (const id of ids) {
      for (const r of c.restored.get(id) ?? []) assert.notEqual(r.data, "local", "a local snapshot never travels");
    }
  }
  assert.ok(restores >= 4 && fulls >= 4, `followers installed full snapshots made on demand (${restores}, ${fulls})`);
});
