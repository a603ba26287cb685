/**
 * The simulator tier: many seeds without a violation, the same seed replays
 * the same run, and every planted bug is caught (the simulator is proven).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { type RunOptions, runSeed } from "./run.ts";
import { BUGS, runSeeds } from "./seeds.ts";

const SEEDS = Number(process.env.SIM_SEEDS ?? 1000);

test(`${SEEDS} default seeds (3 and 5 nodes) run without a violation`, { timeout: 600_000 }, async () => {
  const s = await runSeeds({ start: 1, count: SEEDS });
  assert.deepEqual(s.failures, [], `failing seeds: ${s.failures.map((f) => f.seed).join(", ")}`);
  // The faults really happened: a run that injected nothing would prove nothing.
  for (const k of ["crashes", "wipes", "partitions", "pauses", "confChanges", "transfers", "snapshots", "acked"]) {
    assert.ok((s.totals[k] ?? 0) > SEEDS / 10, `too few ${k}: ${s.totals[k]}`);
  }
});

test("300 figure8-profile seeds (young leaders killed, one entry per message) run without a violation", {
  timeout: 300_000,
}, async () => {
  const s = await runSeeds({ start: 1, count: 300, profile: "figure8" });
  assert.deepEqual(s.failures, [], `failing seeds: ${s.failures.map((f) => f.seed).join(", ")}`);
});

test("the same seed replays the same run", () => {
  const a = runSeed({ seed: 4242, nodes: 5 });
  const b = runSeed({ seed: 4242, nodes: 5 });
  assert.equal(a.violation, undefined);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.stats, runSeed({ seed: 4243, nodes: 5 }).stats);
});

/** Runs seeds until the first violation; returns that seed and its message. */
function firstViolation(bug: string, base: Omit<RunOptions, "seed" | "nodes">, nodes: number, limit: number) {
  for (let seed = 1; seed <= limit; seed++) {
    const r = runSeed({ ...base, seed, nodes, bugs: { [bug]: true } });
    if (r.violation) return { seed, violation: r.violation };
  }
  return undefined;
}

for (const bug of BUGS) {
  const figure8 = bug === "commitPrevTermByCount";
  test(`planted bug ${bug} is caught within 400 seeds${figure8 ? " (figure8 profile)" : ""}`, () => {
    const found = firstViolation(bug, figure8 ? { profile: "figure8" } : {}, 3, 400);
    assert.ok(found, `${bug} was never caught`);
    console.log(`# ${bug}: caught at seed ${found.seed}: ${found.violation.split("\n")[0]?.slice(0, 160)}`);
  });
}

test("npm run sim prints a replay command for a failing seed and ends with the summary line", () => {
  const ok = spawnSync(process.execPath, ["test/sim/main.ts", "--seeds", "20"], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout.trimEnd().split("\n").at(-1) ?? "", /^sim: 20 seeds, 0 violations$/);
  const bad = spawnSync(process.execPath, ["test/sim/main.ts", "--seeds", "10", "--bug", "voteWithoutLogCheck"], {
    encoding: "utf8",
  });
  assert.match(bad.stdout, /replay: npm run sim -- --seed \d+ --nodes \d --bug voteWithoutLogCheck/);
  assert.match(bad.stdout.trimEnd().split("\n").at(-1) ?? "", /^sim: 10 seeds, [1-9]\d* violations$/);
  const usage = spawnSync(process.execPath, ["test/sim/main.ts", "--seeds", "x"], { encoding: "utf8" });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--seeds must be a non-negative integer/);
});
