/**
 * Catching up and rejoining: a node far behind a compacted log is sent a
 * snapshot; the seed node with a wiped STATE_DIR does not bootstrap a second
 * cluster but rejoins the existing one under a new incarnation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";

test("a node far behind catches up by snapshot; a wiped seed rejoins under a new incarnation", {
  timeout: 90_000,
}, async (t) => {
  // A snapshot every SNAPSHOT_THRESHOLD entries (no log-growth wait), so a follower that was down falls
  // behind the compacted log and must be caught up by snapshot.
  const c = await TestCluster.create(t, {
    size: 3,
    secret: "s3cret",
    env: { SNAPSHOT_THRESHOLD: "40", SNAPSHOT_LOG_RATIO: "0" },
  });
  c.startAll();
  let leader = await c.waitLeader();
  const lagging = [0, 1, 2].find((i) => i !== leader && i !== 0) ?? ([0, 1, 2].find((i) => i !== leader) as number);
  assert.equal((await c.kill(lagging, "SIGTERM"))?.code, 0);

  // Each write is retried while the two remaining nodes have no leader: on a loaded machine one of them can
  // miss a heartbeat and start an election (503 NO_LEADER); the writes are idempotent (fixed keys and values).
  const write = async (body: Record<string, number>) => {
    let last: { status: number; body: unknown } | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      last = await c.http(leader, "POST", "/key", body);
      if (last.status !== 503) break;
      await new Promise((r) => setTimeout(r, 200));
      leader = await c.waitLeader();
    }
    assert.equal(last?.status, 200, JSON.stringify(last?.body));
  };
  const writes = 300;
  for (let k = 0; k < writes; k += 10) {
    const batch: Record<string, number> = {};
    for (let j = k; j < k + 10; j++) batch[`k${j}`] = j;
    // Single-key writes would be slower; ten keys per entry, thirty entries, plus one entry per key below.
    await write(batch);
    for (let j = k; j < k + 3; j++) await write({ [`s${j}`]: j });
  }
  assert.ok(((await c.status(leader))?.snapshotIndex ?? 0) > 0, "the leader compacted its log");
  assert.ok(
    !c.logs(leader).some((l) => l.msg === "created snapshot"),
    "behind local snapshots: the store was not serialised",
  );

  c.start(lagging);
  const commit = (await c.status(leader))?.commitIndex ?? 0;
  await waitFor("the lagging node to catch up", 20_000, async () => {
    const s = await c.status(lagging);
    return s && s.appliedIndex >= commit ? true : undefined;
  });
  assert.ok(
    c.logs(lagging).some((l) => l.msg === "restored snapshot from leader"),
    "caught up by snapshot",
  );
  assert.ok(
    c.logs(leader).some((l) => l.msg === "created snapshot"),
    "the leader made the full snapshot the lagging node needed",
  );
  const r = await c.http(lagging, "GET", "/key/k299?consistency=stale");
  assert.deepEqual(r.body, { k299: 299 });

  // Wipe the seed (node1): it must join the existing cluster, never bootstrap a second one.
  leader = await c.waitLeader();
  const seed = 0;
  const oldInc = (await c.status(leader))?.members.find((m) => m.id === "node1")?.incarnation;
  assert.equal((await c.kill(seed, "SIGTERM"))?.code, 0);
  c.wipe(seed);
  const mark = c.nodes[seed]?.lines.length ?? 0;
  c.start(seed);
  const others = [1, 2];
  const l2 = await c.waitLeader(others, 2, 20_000).catch(() => c.waitLeader(others, 3, 20_000));
  await waitFor("node1 to be a voter again under a new incarnation", 30_000, async () => {
    const s = await c.status(l2);
    const m = s?.members.find((x) => x.id === "node1");
    return m && m.role === "voter" && m.incarnation !== oldInc ? true : undefined;
  });
  assert.ok(
    !c.logs(seed, mark).some((l) => l.msg === "bootstrapped a new cluster"),
    "the wiped seed did not bootstrap",
  );
  assert.ok(c.logs(l2).some((l) => l.msg === "re-added member under its new incarnation"));
  const after = (await c.status(l2))?.commitIndex ?? 0;
  await waitFor("node1 to catch up", 20_000, async () => {
    const s = await c.status(seed);
    return s && s.appliedIndex >= after ? true : undefined;
  });
  assert.deepEqual((await c.http(seed, "GET", "/key/k299?consistency=stale")).body, { k299: 299 });
  // And the cluster still takes writes with all three voting.
  await c.waitLeader([0, 1, 2], 3);
  assert.equal((await c.http(seed, "POST", "/key", { back: true })).status, 200);
});
