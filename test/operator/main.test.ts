/**
 * `raftkv-operator` itself on bad configuration: exit code 2 and one line naming the variable, before it
 * reads a kubeconfig or opens a port.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const MAIN = join(import.meta.dirname, "..", "..", "operator", "src", "main.ts");

const cases: [Record<string, string>, RegExp][] = [
  [{ METRICS_PORT: "http" }, /^raftkv-operator: invalid METRICS_PORT: /],
  [{ LEADER_ELECTION: "maybe" }, /^raftkv-operator: invalid LEADER_ELECTION: /],
  [{ WATCH_NAMESPACE: "Not_A_Namespace" }, /^raftkv-operator: invalid WATCH_NAMESPACE: /],
  [{ WORKERS: "0" }, /^raftkv-operator: invalid WORKERS: /],
  [{ RESYNC_SECONDS: "soon" }, /^raftkv-operator: invalid RESYNC_SECONDS: /],
  [{ LOG_LEVEL: "trace" }, /^raftkv-operator: invalid LOG_LEVEL: /],
  [{ METRICS_ADDR: "everywhere" }, /^raftkv-operator: invalid METRICS_ADDR: /],
];

for (const [env, expected] of cases) {
  test(`bad configuration ${JSON.stringify(env)} exits 2 naming the variable`, () => {
    const r = spawnSync(process.execPath, [MAIN], {
      // No kubeconfig at all: the configuration error must come first.
      env: { PATH: process.env.PATH ?? "", KUBECONFIG: "/nonexistent/kubeconfig", ...env },
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", expected);
  });
}
