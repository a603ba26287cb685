/** A node whose store is damaged refuses to start, says why, and exits non-zero (never resets silently). */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
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
