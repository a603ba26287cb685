/**
 * `raftkv-node` itself on bad configuration: exit code 2 and one line that
 * names the variable, before anything is opened or bound.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const MAIN = join(import.meta.dirname, "..", "..", "node", "src", "main.ts");

const cases: [Record<string, string>, RegExp][] = [
  [{ HTTP_PORT: "http" }, /^raftkv-node: invalid HTTP_PORT: /],
  [{ RAFT_PORT: "70000" }, /^raftkv-node: invalid RAFT_PORT: /],
  [{ KV_STORE: "rocksdb" }, /^raftkv-node: invalid KV_STORE: /],
  [{ PEERS: "n1@127.0.0.1:12000,n2" }, /^raftkv-node: invalid PEERS: /],
  [{ PEERS: "n2@127.0.0.1:12000,n3@127.0.0.1:12001" }, /^raftkv-node: invalid PEERS: .*n1/],
  [{ DISCOVERY: "consul" }, /^raftkv-node: invalid DISCOVERY: /],
  [{ RAFT_SECRET: "a", RAFT_SECRET_FILE: "/nonexistent" }, /^raftkv-node: invalid RAFT_SECRET/],
];

for (const [env, expected] of cases) {
  test(`bad configuration ${JSON.stringify(env)} exits 2 naming the variable`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "raftkv-main-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = spawnSync(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ID: "n1",
        STATE_DIR: join(dir, "n1"),
        RAFT_ADVERTISE_ADDR: "127.0.0.1",
        ...env,
      },
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", expected);
  });
}
