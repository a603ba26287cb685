/**
 * `npm run sim -- --seeds N [--seed S] [--nodes K] [--bug NAME] [--profile figure8]`: runs the
 * deterministic simulator over many seeds. A failing seed prints the one
 * command that replays it; the last line is `sim: N seeds, V violations`.
 */
import { parseArgs } from "node:util";
import { runSeed, type SimBugs } from "./run.ts";
import { BUGS, runSeeds } from "./seeds.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1000" },
    seed: { type: "string" },
    start: { type: "string", default: "1" },
    nodes: { type: "string" },
    bug: { type: "string" },
    profile: { type: "string", default: "default" },
    workers: { type: "string" },
  },
});

function fail(msg: string): never {
  console.error(`sim: ${msg}`);
  process.exit(2);
}

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};

const nodes = int("nodes", values.nodes);
if (nodes !== undefined && (nodes < 1 || nodes > 9)) fail("--nodes must be between 1 and 9");
const bug = values.bug;
if (bug !== undefined && !BUGS.includes(bug)) fail(`unknown --bug ${bug}; known: ${BUGS.join(", ")}`);
const bugs: SimBugs = bug ? { [bug]: true } : {};
const profile = values.profile;
if (profile !== "default" && profile !== "figure8") fail(`unknown --profile ${profile}; known: default, figure8`);

const single = int("seed", values.seed);
if (single !== undefined) {
  const r = runSeed({ seed: single, nodes: nodes ?? (single % 2 === 1 ? 3 : 5), bugs, profile });
  console.log(JSON.stringify({ seed: r.seed, nodes: r.nodes, ticks: r.ticks, ...r.stats, params: r.params }));
  if (r.violation) console.log(`violation: ${r.violation}`);
  console.log(`sim: 1 seeds, ${r.violation ? 1 : 0} violations`);
  process.exit(r.violation ? 1 : 0);
}

const count = int("seeds", values.seeds) ?? 1000;
const start = int("start", values.start) ?? 1;
const workers = int("workers", values.workers);
const t0 = performance.now();
const summary = await runSeeds({ start, count, nodes, bug, workers, profile });
const secs = (performance.now() - t0) / 1000;
for (const v of summary.failures.slice(0, 20)) {
  const extra = `${bug ? ` --bug ${bug}` : ""}${profile !== "default" ? ` --profile ${profile}` : ""}`;
  const replay = `npm run sim -- --seed ${v.seed} --nodes ${v.nodes}${extra}`;
  console.log(`seed ${v.seed} (${v.nodes} nodes) violated: ${v.violation.split("\n")[0]}\n  replay: ${replay}`);
}
console.log(
  `ran ${count} seeds in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} seeds/s); ${JSON.stringify(summary.totals)}`,
);
console.log(`sim: ${count} seeds, ${summary.failures.length} violations`);
process.exit(summary.failures.length > 0 && !bug ? 1 : 0);
