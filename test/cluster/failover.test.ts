/**
 * Crash safety with real processes: kill -9 the leader under a write load,
 * a new leader takes over and no acknowledged write is lost; the old leader
 * restarts and catches up; a full restart of all three keeps everything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";

test("kill -9 of the leader loses no acknowledged write; restarts catch up", { timeout: 90_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "s3cret" });
  c.startAll();
  const leader = await c.waitLeader();
  const acked = new Map<string, number>();
  let stop = false;
  let seq = 0;
  // Two writers hitting every node in turn (followers forward); failures are retried by moving on.
  const writer = async (w: number) => {
    while (!stop) {
      const n = seq++;
      const key = `w${w}-${n}`;
      const target = c.running()[n % Math.max(1, c.running().length)] ?? 0;
      try {
        const r = await c.http(target, "POST", "/key", { [key]: n }, 3000);
        if (r.status === 200) acked.set(key, n);
      } catch {
        // Connection refused or timeout: not acknowledged.
      }
    }
  };
  const writers = [writer(1), writer(2)];
  await waitFor("some writes", 10_000, async () => (acked.size >= 30 ? true : undefined));

  const killed = await c.kill(leader, "SIGKILL");
  assert.equal(killed?.signal, "SIGKILL");
  const before = acked.size;
  const rest = [0, 1, 2].filter((i) => i !== leader);
  const newLeader = await c.waitLeader(rest, 3);
  assert.notEqual(newLeader, leader);
  await waitFor("writes to resume", 15_000, async () => (acked.size >= before + 30 ? true : undefined));
  stop = true;
  await Promise.all(writers);

  const check = async (i: number, consistency = "linearizable") => {
    const r = await c.http(i, "GET", `/keys?limit=10000&consistency=${consistency}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const got = new Map((r.body.keys as Array<{ key: string; value: number }>).map((kv) => [kv.key, kv.value]));
    for (const [k, v] of acked) assert.equal(got.get(k), v, `node ${c.nodes[i]?.id} lost acknowledged ${k}`);
  };
  await check(newLeader);

  // The old leader comes back and catches up.
  c.start(leader);
  const target = (await c.status(newLeader))?.commitIndex ?? 0;
  await waitFor("the old leader to catch up", 15_000, async () => {
    const s = await c.status(leader);
    return s && s.appliedIndex >= target ? true : undefined;
  });
  await check(leader, "stale");

  // Restart all three: every acknowledged write is still there, and nothing was replayed from index 1.
  await Promise.all([0, 1, 2].map((i) => c.kill(i, "SIGTERM")));
  c.startAll();
  const l2 = await c.waitLeader();
  for (const i of [0, 1, 2]) await check(i, i === l2 ? "linearizable" : "linearizable");
  const resumed = c.logs(l2).filter((l) => l.msg === "resuming from stored state");
  assert.ok(resumed.length >= 1 && Number(resumed.at(-1)?.applied) > 0, "restart resumes from the applied index");
});
