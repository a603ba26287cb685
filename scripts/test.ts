/**
 * `npm test`: typecheck, lint, then every test tier that has files, in order.
 *
 *   npm test                         everything
 *   npm test -- --only unit          one step (or several: --only check,sim)
 *   npm test -- --only repo          only test files under test/repo/ (any folder under test/ works)
 *   npm test -- --test-name-pattern=election   flags starting with --test are passed to `node --test`
 *
 * Steps: typecheck, lint (alias: check), unit, sim, cluster, faults, k8s, images, e2e.
 * Every step runs even if an earlier one failed; the exit code is non-zero if any failed.
 * Each tier also writes TAP to .cache/test-results/<tier>.tap; the counts in the summary come from there.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative, sep } from "node:path";

const root = join(import.meta.dirname, "..");
const resultsDir = join(root, ".cache", "test-results");

/**
 * Heavy tiers, each a folder under test/, except "faults", which is test/faults/runs/ (the
 * fault-injection runs; the rest of test/faults/ is the checker's unit tests). Everything else
 * under test/ is the unit tier.
 */
const heavyTiers = ["sim", "cluster", "faults", "k8s", "images", "e2e"] as const;
const tiers = ["unit", ...heavyTiers] as const;
const allSteps = ["typecheck", "lint", ...tiers];

interface Result {
  step: string;
  status: "pass" | "FAIL" | "skip";
  seconds: number;
  detail: string;
}

function parseArgs(argv: string[]): { only: string[]; forward: string[] } {
  const only: string[] = [];
  const forward: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--only") only.push(...(argv[++i] ?? "").split(","));
    else if (arg.startsWith("--only=")) only.push(...arg.slice("--only=".length).split(","));
    else if (arg.startsWith("--test")) forward.push(arg);
    else {
      console.error(
        `unknown argument ${arg}\nusage: npm test -- [--only ${allSteps.join("|")}|<folder under test/>] [--test-*]`,
      );
      process.exit(2);
    }
  }
  return { only: only.filter(Boolean).flatMap((o) => (o === "check" ? ["typecheck", "lint"] : [o])), forward };
}

/** All test files, as paths relative to the repo root with forward slashes, sorted. */
function testFiles(): string[] {
  const dir = join(root, "test");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.ts") && !f.split(sep).includes("node_modules"))
    .map((f) => relative(root, join(dir, f)).split(sep).join("/"))
    .sort();
}

function tierOf(file: string): string {
  const [, top = "", sub = ""] = file.split("/");
  if (top === "faults") return sub === "runs" ? "faults" : "unit";
  return (heavyTiers as readonly string[]).includes(top) ? top : "unit";
}

function run(step: string, args: string[], files: string[] = []): number {
  const shown = args.map((a) => (a.startsWith(root) ? relative(root, a) : a));
  console.log(`\n=== ${step}: node ${shown.join(" ")}${files.length > 0 ? ` <${files.length} test files>` : ""}`);
  const res = spawnSync(process.execPath, [...args, ...files], { cwd: root, stdio: "inherit" });
  if (res.error) console.error(res.error);
  return res.status ?? 1;
}

/** The last `# pass N` / `# fail N` style counts from a TAP file. */
function tapCounts(file: string): string {
  if (!existsSync(file)) return "";
  const text = readFileSync(file, "utf8");
  const counts = ["tests", "pass", "fail", "cancelled", "skipped", "todo"].flatMap((k) => {
    const m = [...text.matchAll(new RegExp(`^# ${k} (\\d+)$`, "gm"))].at(-1);
    return m && (m[1] !== "0" || k === "tests" || k === "pass" || k === "fail") ? [`${k} ${m[1]}`] : [];
  });
  return counts.join(", ");
}

const { only, forward } = parseArgs(process.argv.slice(2));
const stepFilter = only.filter((o) => allSteps.includes(o));
const folderFilter = only.filter((o) => !allSteps.includes(o));
const files = testFiles().filter((f) => folderFilter.length === 0 || folderFilter.includes(f.split("/")[1] ?? ""));
const selected = (step: string) =>
  stepFilter.length > 0
    ? stepFilter.includes(step)
    : folderFilter.length === 0 || (tiers as readonly string[]).includes(step);

if (folderFilter.length > 0 && files.length === 0) {
  console.error(`no test files under test/{${folderFilter.join(",")}}/ (steps are: ${allSteps.join(", ")})`);
  process.exit(2);
}

const results: Result[] = [];
const timed = (step: string, fn: () => Omit<Result, "step" | "seconds">) => {
  const start = performance.now();
  const r = fn();
  results.push({ step, seconds: (performance.now() - start) / 1000, ...r });
};

if (selected("typecheck")) {
  timed("typecheck", () => {
    const code = run("typecheck", [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"]);
    return { status: code === 0 ? "pass" : "FAIL", detail: "tsc -p tsconfig.json --noEmit" };
  });
}
if (selected("lint")) {
  timed("lint", () => {
    const code = run("lint", [join(root, "node_modules/@biomejs/biome/bin/biome"), "check", "."]);
    return { status: code === 0 ? "pass" : "FAIL", detail: "biome check ." };
  });
}
mkdirSync(resultsDir, { recursive: true });
for (const tier of tiers) {
  if (!selected(tier)) continue;
  const tierFiles = files.filter((f) => tierOf(f) === tier);
  if (folderFilter.length > 0 && tierFiles.length === 0) continue;
  timed(tier, () => {
    if (tierFiles.length === 0) return { status: "skip", detail: "no test files" };
    const tap = join(resultsDir, `${tier}.tap`);
    rmSync(tap, { force: true });
    const reporter = process.stdout.isTTY ? "spec" : "tap";
    const code = run(
      tier,
      [
        "--test",
        `--test-reporter=${reporter}`,
        "--test-reporter-destination=stdout",
        "--test-reporter=tap",
        `--test-reporter-destination=${relative(root, tap)}`,
        ...forward,
      ],
      tierFiles,
    );
    const detail = `${tierFiles.length} file${tierFiles.length === 1 ? "" : "s"}; ${tapCounts(tap)}`;
    return { status: code === 0 ? "pass" : "FAIL", detail };
  });
}

console.log("\n=== summary");
for (const r of results)
  console.log(`${r.status.padEnd(4)}  ${r.step.padEnd(9)}  ${r.seconds.toFixed(1).padStart(6)}s  ${r.detail}`);
const failed = results.filter((r) => r.status === "FAIL").map((r) => r.step);
console.log(failed.length > 0 ? `\nFAILED: ${failed.join(", ")}` : "\nall steps passed");
// One plain closing line over every tier's tests, plus failed steps (typecheck, lint) as failures.
let passed = 0;
let failedTests = 0;
for (const tier of tiers) {
  const tap = join(resultsDir, `${tier}.tap`);
  if (!results.some((r) => r.step === tier && r.status !== "skip") || !existsSync(tap)) continue;
  const text = readFileSync(tap, "utf8");
  passed += Number([...text.matchAll(/^# pass (\d+)$/gm)].at(-1)?.[1] ?? 0);
  failedTests += Number([...text.matchAll(/^# fail (\d+)$/gm)].at(-1)?.[1] ?? 0);
}
const failedChecks = results.filter(
  (r) => r.status === "FAIL" && !(tiers as readonly string[]).includes(r.step),
).length;
console.log(`${passed} passed, ${failedTests + failedChecks} failed`);
process.exit(failed.length > 0 ? 1 : 0);
