/**
 * Writes the Grafana dashboard built by charts/raftkv/dashboards/dashboard.ts to
 * charts/raftkv/dashboards/raftkv.json (the file the chart ships), formatted by Biome so `biome check`
 * accepts it. `--check` writes nothing and exits 1 when the committed file holds another dashboard.
 *
 *   node scripts/gen-dashboard.ts [--check]
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDashboard, dashboardJson } from "../charts/raftkv/dashboards/dashboard.ts";

const root = join(import.meta.dirname, "..");

/** Where the generated dashboard lives. */
export const DASHBOARD_FILE = join(root, "charts", "raftkv", "dashboards", "raftkv.json");

/** True when `file` parses to exactly the dashboard the code builds (formatting aside). */
export function isCurrent(file = DASHBOARD_FILE): boolean {
  if (!existsSync(file)) return false;
  const committed: unknown = JSON.parse(readFileSync(file, "utf8"));
  return JSON.stringify(committed) === JSON.stringify(buildDashboard());
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.some((a) => a !== "--check")) {
    console.error("usage: node scripts/gen-dashboard.ts [--check]");
    process.exit(2);
  }
  if (args.includes("--check")) {
    const ok = isCurrent();
    if (!ok) console.error(`${DASHBOARD_FILE} is stale: run node scripts/gen-dashboard.ts`);
    process.exit(ok ? 0 : 1);
  }
  writeFileSync(DASHBOARD_FILE, dashboardJson());
  const biome = join(root, "node_modules", "@biomejs", "biome", "bin", "biome");
  const r = spawnSync(process.execPath, [biome, "format", "--write", DASHBOARD_FILE], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("biome format failed on the generated dashboard");
    process.exit(1);
  }
  console.log(`wrote ${DASHBOARD_FILE}`);
}
