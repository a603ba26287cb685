/**
 * Full disks on real processes, each STATE_DIR on its own small tmpfs (root
 * only; skipped with the reason otherwise):
 * - below MIN_FREE_BYTES a leader refuses writes with 507 STORAGE_FULL (reads
 *   go on) and hands leadership to a voter with room; a low follower takes no
 *   new entries and catches up once space returns;
 * - a write that meets ENOSPC suspends the node instead of killing it: every
 *   request gets STORAGE_FULL, and once there is room the store is reopened
 *   and nothing acknowledged is missing; the same when it starts on a full disk.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";
import { fillDisk, freeBytes, mountTmpfs, tmpfsUnavailable } from "./tmpfs.ts";

const skip = tmpfsUnavailable();
const MiB = 1024 * 1024;

/** A metric's value from a /metrics text (first sample whose line starts with `prefix`). */
function metric(text: unknown, prefix: string): number | undefined {
  const line = String(text)
    .split("\n")
    .find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("one node: 507 below the reserve; ENOSPC suspends instead of crashing; reopens when there is room", {
  timeout: 120_000,
  skip,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 1 });
  const dir = mountTmpfs(t, 16, () => c.kill(0));
  const ballast = join(dir, "..", "ballast");
  const start = (minFree: string) => c.start(0, { STATE_DIR: dir, MIN_FREE_BYTES: minFree });
  const lowIs = (v: number) =>
    waitFor(`raftkv_disk_low ${v}`, 10_000, async () =>
      metric((await c.http(0, "GET", "/metrics")).body, "raftkv_disk_low ") === v ? true : undefined,
    );

  start("4Mi");
  await c.waitLeader([0], 1);
  assert.equal((await c.http(0, "POST", "/key", { a: 1 })).status, 200);

  // 1. Below the reserve: writes refused with a clear message, reads served, nothing written.
  fillDisk(ballast, 2 * MiB);
  await lowIs(1);
  const before = await c.status(0);
  const refused = await c.http(0, "POST", "/key", { b: 2 });
  assert.equal(refused.status, 507, JSON.stringify(refused.body));
  assert.equal(refused.body.code, "STORAGE_FULL");
  assert.match(String(refused.body.error), /below MIN_FREE_BYTES \(4\.0 MiB\)/);
  assert.deepEqual((await c.http(0, "GET", "/key/a")).body, { a: 1 });
  assert.equal((await c.http(0, "GET", "/readyz")).status, 200, "reads are still served");
  assert.equal((await c.status(0))?.lastLogIndex, before?.lastLogIndex, "a refused write appends nothing");
  rmSync(ballast);
  await lowIs(0);
  assert.equal((await c.http(0, "POST", "/key", { b: 2 })).status, 200);

  // 2. No reserve (MIN_FREE_BYTES=0) and a disk filled to the last byte: a write meets ENOSPC.
  assert.deepEqual(await c.kill(0, "SIGTERM"), { code: 0, signal: null });
  start("0");
  await c.waitLeader([0], 1);
  fillDisk(ballast);
  assert.equal(freeBytes(dir), 0);
  const acked = new Map<string, string>();
  let failure: { status: number; body: Record<string, unknown> } | undefined;
  for (let k = 0; k < 200 && !failure; k++) {
    const key = `big${k}`;
    const value = `${k}-${"x".repeat(4000)}`;
    const r = await c.http(0, "POST", "/key", { [key]: value });
    if (r.status === 200) acked.set(key, value);
    else failure = r;
  }
  assert.ok(failure, "200 writes of 4 KB fitted on a full disk");
  // The write that met ENOSPC has an unknown outcome (503 UNAVAILABLE); a later one a definite 507.
  assert.ok(
    (failure.status === 503 && failure.body.code === "UNAVAILABLE") ||
      (failure.status === 507 && failure.body.code === "STORAGE_FULL"),
    JSON.stringify(failure),
  );
  const suspended = await waitFor("a suspended node", 10_000, async () => {
    const r = await c.http(0, "GET", "/status");
    return r.status === 507 ? r : undefined;
  });
  assert.equal(suspended.body.code, "STORAGE_FULL");
  assert.match(String(suspended.body.error), /No space left on device.*suspended/);
  const w = await c.http(0, "POST", "/key", { during: 1 });
  assert.equal(w.status, 507);
  assert.equal((await c.http(0, "GET", "/key/a")).status, 507, "a suspended node serves nothing");
  assert.equal((await c.http(0, "GET", "/livez")).status, 200, "but it is alive");
  assert.ok(c.nodes[0]?.proc, "the process did not exit");
  assert.equal(metric((await c.http(0, "GET", "/metrics")).body, "raftkv_storage_suspended "), 1);

  rmSync(ballast);
  await waitFor("the node back after freeing space", 15_000, async () =>
    (await c.http(0, "GET", "/status")).status === 200 ? true : undefined,
  );
  await c.waitLeader([0], 1);
  for (const [key, value] of acked) {
    assert.deepEqual((await c.http(0, "GET", `/key/${key}`)).body, { [key]: value }, `acknowledged ${key}`);
  }
  assert.deepEqual((await c.http(0, "GET", "/key/b")).body, { b: 2 });
  assert.equal((await c.http(0, "POST", "/key", { after: 1 })).status, 200);
  const m = (await c.http(0, "GET", "/metrics")).body;
  assert.equal(metric(m, "raftkv_storage_suspensions_total "), 1);
  assert.equal(metric(m, "raftkv_storage_suspended "), 0);
  const msgs = c.logs(0).map((l) => l.msg);
  assert.ok(msgs.includes("storage full: a write failed; the node is suspended until there is room"));
  assert.ok(msgs.includes("there is room again: reopening storage"));

  // 3. Started on a full disk: suspended from the start, not a crash loop.
  await c.kill(0, "SIGKILL");
  fillDisk(ballast);
  start("4Mi");
  const early = await waitFor("STORAGE_FULL at start", 15_000, async () => {
    const r = await c.http(0, "GET", "/key/a").catch(() => undefined);
    return r?.status === 507 ? r : undefined;
  });
  assert.equal(early.body.code, "STORAGE_FULL");
  assert.ok(c.nodes[0]?.proc, "the process did not exit");
  rmSync(ballast);
  await c.waitLeader([0], 1);
  assert.deepEqual((await c.http(0, "GET", "/key/after")).body, { after: 1 });
  assert.equal((await c.http(0, "POST", "/key", { last: 1 })).status, 200);
});

test("three nodes: a low leader hands over, a low follower takes no entries, all low refuses with 507", {
  timeout: 150_000,
  skip,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3 });
  const stop = () => Promise.all([0, 1, 2].map((i) => c.kill(i)));
  const dirs = [0, 1, 2].map(() => mountTmpfs(t, 24, stop));
  const ballast = (i: number) => join(dirs[i] as string, "..", "ballast");
  for (const i of [0, 1, 2]) c.start(i, { STATE_DIR: dirs[i] as string, MIN_FREE_BYTES: "4Mi" });
  const low = async (i: number) => metric((await c.http(i, "GET", "/metrics")).body, "raftkv_disk_low ");
  /** A write through node `via`, retried while leadership moves (503); returns the final answer. */
  const write = (via: number, kv: Record<string, unknown>) =>
    waitFor(`write ${JSON.stringify(kv)}`, 15_000, async () => {
      const r = await c.http(via, "POST", "/key", kv);
      return r.status === 503 ? undefined : r;
    });

  const L = await c.waitLeader();
  assert.equal((await write(L, { k0: 0 })).status, 200);

  // 1. The leader's disk goes below the reserve: it hands leadership to a voter with room.
  fillDisk(ballast(L), 2 * MiB);
  await waitFor("the leader sees its disk low", 10_000, async () => ((await low(L)) === 1 ? true : undefined));
  const others = [0, 1, 2].filter((i) => i !== L);
  const next = await waitFor("a new leader with room", 20_000, async () => {
    const s = await c.status(others[0] as number);
    const id = s?.leader?.id;
    return id && id !== c.nodes[L]?.id ? c.nodes.findIndex((n) => n.id === id) : undefined;
  });
  assert.ok(c.logs(L).some((l) => l.msg === "disk low on the leader: handing leadership to a voter with room"));

  // 2. Writes go on (sent to the low node too, which forwards them); the low node takes no new entries.
  const lowLast = (await c.status(L))?.lastLogIndex ?? 0;
  for (let k = 1; k <= 5; k++) assert.equal((await write(k % 2 === 0 ? L : next, { [`k${k}`]: k })).status, 200);
  await new Promise((r) => setTimeout(r, 1000));
  const leaderSt = await c.status(next);
  assert.ok((leaderSt?.commitIndex ?? 0) >= lowLast + 5);
  assert.equal((await c.status(L))?.lastLogIndex, lowLast, "a low follower appends nothing new");
  const rejected = metric(
    (await c.http(L, "GET", "/metrics")).body,
    'raftkv_raft_requests_rejected_total{reason="disk_low"}',
  );
  assert.ok((rejected ?? 0) > 0, "appends were dropped for the low disk");

  // 3. Space returns: the follower catches up.
  rmSync(ballast(L));
  await waitFor("the former leader caught up", 20_000, async () => {
    const r = await c.http(L, "GET", "/key/k5?consistency=stale");
    return r.status === 200 && r.body.k5 === 5 ? true : undefined;
  });

  // 4. Every disk low: nobody can take over, writes get a definite 507, reads go on.
  for (const i of [0, 1, 2]) fillDisk(ballast(i), 2 * MiB);
  await waitFor("all disks low", 10_000, async () =>
    (await Promise.all([0, 1, 2].map(low))).every((v) => v === 1) ? true : undefined,
  );
  const full = await write(next, { nope: 1 });
  assert.equal(full.status, 507, JSON.stringify(full.body));
  assert.equal(full.body.code, "STORAGE_FULL");
  for (const i of [0, 1, 2]) assert.deepEqual((await c.http(i, "GET", "/key/k3")).body, { k3: 3 });
  for (const i of [0, 1, 2]) assert.ok(c.nodes[i]?.proc, `${c.nodes[i]?.id} is running`);

  // 5. Space everywhere again: writes are accepted and every node holds them.
  for (const i of [0, 1, 2]) rmSync(ballast(i));
  await waitFor("all disks fine", 10_000, async () =>
    (await Promise.all([0, 1, 2].map(low))).every((v) => v === 0) ? true : undefined,
  );
  assert.equal((await write(next, { done: 1 })).status, 200);
  for (const i of [0, 1, 2]) {
    await waitFor(`done on ${c.nodes[i]?.id}`, 10_000, async () => {
      const r = await c.http(i, "GET", "/key/done?consistency=stale");
      return r.body.done === 1 ? true : undefined;
    });
  }
  assert.deepEqual((await c.http(next, "GET", "/key/nope")).body, { nope: null }, "the refused write left nothing");
});
