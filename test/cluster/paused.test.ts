/**
 * A leader frozen with SIGSTOP (a long GC pause, a stalled VM) must not
 * serve stale reads when it wakes: its loop feeds the missed ticks first, so
 * check-quorum sees the real elapsed time and it steps down.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";

test("a leader paused with SIGSTOP steps down on waking and serves no stale read", { timeout: 60_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "s3cret" });
  c.startAll();
  const old = await c.waitLeader();
  assert.equal((await c.http(old, "POST", "/key", { x: 1 })).status, 200);
  const pid = c.nodes[old]?.proc?.pid as number;
  process.kill(pid, "SIGSTOP");
  const stoppedAt = Date.now();
  try {
    const rest = [0, 1, 2].filter((i) => i !== old);
    const next = await waitFor("a new leader", 15_000, async () => {
      const s = await c.status(rest[0] as number);
      return s?.state === "leader" || (s?.leader && s.leader.id !== c.nodes[old]?.id) ? s : undefined;
    });
    assert.ok(next);
    const l2 = await waitFor("a leader among the others", 10_000, async () => {
      for (const i of rest) if ((await c.status(i))?.state === "leader") return i;
      return undefined;
    });
    assert.equal((await c.http(l2, "POST", "/key", { x: 2 })).status, 200);
    // A fast election can end the pause before a full election timeout
    // (10 ticks of 50 ms) has passed; hold it past three so the woken loop
    // always sees a stall, whatever the election took.
    const held = Date.now() - stoppedAt;
    if (held < 1500) await new Promise((r) => setTimeout(r, 1500 - held));
  } finally {
    process.kill(pid, "SIGCONT");
  }
  // The woken node must not answer x=1 from its old leadership.
  const r = await c.http(old, "GET", "/key/x");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { x: 2 });
  assert.ok(c.logs(old).some((l) => l.msg === "event loop stalled; feeding missed ticks"));
  await waitFor("the old leader to follow", 5000, async () =>
    (await c.status(old))?.state === "follower" ? true : undefined,
  );
});
