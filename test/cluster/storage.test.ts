/** A node whose store is damaged refuses to start, says why, and exits non-zero (never resets silently). */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { encodeValue, KEYS } from "../../node/src/storage/codec.ts";
import { LeveldbLogStore } from "../../node/src/storage/leveldb-log-store.ts";
import { TestCluster } from "./harness.ts";

test("a corrupted store gives a clear message and exit code 3", { timeout: 30_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 1 });
  c.start(0);
  await c.waitLeader([0], 1);
  assert.equal((await c.http(0, "POST", "/key", { kept: 1 })).status, 200);
  assert.equal((await c.kill(0, "SIGTERM"))?.code, 0);

  const n = c.nodes[0];
  assert.ok(n);
  writeFileSync(join(n.dir, "RAFTKV-STORE.json"), '{"format":1,"incarnation":"someone-else"}\n');
  const from = n.lines.length;
  c.start(0);
  const exit = await n.exit;
  assert.equal(exit?.code, 3);
  const out = n.lines.slice(from).join("\n");
  assert.match(out, /raftkv-node: raftkv storage at .* is corrupt/);
  assert.match(out, /refuses to start rather than lose acknowledged writes/);
});

test("a store compacted behind a local snapshot beyond its KV data refuses to start (exit 3) and says so", {
  timeout: 30_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 1, env: { SNAPSHOT_THRESHOLD: "5" } });
  c.start(0);
  await c.waitLeader([0], 1);
  for (let i = 0; i < 12; i++) assert.equal((await c.http(0, "POST", "/key", { [`k${i}`]: i })).status, 200);
  const snapIndex = (await c.status(0))?.snapshotIndex ?? 0;
  assert.ok(snapIndex >= 5, `compacted (snapshot index ${snapIndex})`);
  assert.equal((await c.kill(0, "SIGTERM"))?.code, 0);

  const n = c.nodes[0];
  assert.ok(n);
  // The KV data said to reflect only index 1: what a lost sync before the compaction would leave.
  const log = await LeveldbLogStore.open(n.dir);
  await log.db.put(KEYS.kvApplied, encodeValue(KEYS.kvApplied, 1));
  await log.close();
  const from = n.lines.length;
  c.start(0);
  const exit = await n.exit;
  assert.equal(exit?.code, 3);
  const out = n.lines.slice(from).join("\n");
  assert.match(
    out,
    /raftkv-node: raftkv storage at .* is corrupt: the log is compacted to index \d+ but the KV data reflects only index 1/,
  );
});
