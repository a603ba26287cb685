/**
 * `npm run bench -- --quick` works: it starts raftkv (and etcd when it can), drives every workload
 * briefly, prints the table and passes its read-back checks. No timing is judged here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..", "..");

test("npm run bench -- --quick prints the table and its read-back checks pass", { timeout: 240_000 }, () => {
  const r = spawnSync(process.execPath, [join(root, "scripts", "bench.ts"), "--quick"], {
    cwd: root,
    encoding: "utf8",
    timeout: 230_000,
  });
  assert.equal(r.status, 0, `bench exited ${r.status}\n${r.stdout}\n${r.stderr.slice(-12000)}`);
  const out = r.stdout;
  assert.match(out, /^\| workload +\| clients +\| raftkv ops\/s/m);
  for (const w of ["write 256 B", "read linearizable", "read stale", "mix 90% read 10% write", "write 4 KiB"]) {
    assert.match(out, new RegExp(`^\\| ${w} `, "m"), `a row for ${w}`);
  }
  assert.match(out, /^machine limits: fsync p50 /m);
  assert.match(out, /^fail-over \(kill -9 of the raftkv leader/m);
  assert.match(
    out,
    /^read-back checks passed: [1-9]\d* keys read back from followers, no mismatch \(\d+ reads retried after 503\)$/m,
  );
});
