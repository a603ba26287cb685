/**
 * Adds a stub to package-lock.json for every optional dependency the lock names but lacks.
 *
 * Why: this machine's npm registry lacks some platform builds (e.g. @biomejs/cli-darwin-arm64@2.6.8,
 * any @biomejs/cli-android-*). `npm install` skips such optional packages and leaves them out of the
 * lock, and then `npm ci` (what CI runs) refuses the lock as out of sync. A stub entry satisfies
 * `npm ci`, which skips optional packages for other platforms; `npm install` keeps the stubs.
 *
 *   npx node scripts/fill-lock.ts           fix the lock in place (run it after every `npm install`)
 *   npx node scripts/fill-lock.ts --check   exit 1 if the lock needs fixing
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
}

const file = join(import.meta.dirname, "..", "package-lock.json");

/** The paths of the stubs a lock needs, with their entries. Exact versions only; ranges cannot be stubbed. */
export function missingOptionals(packages: Record<string, LockEntry>): Record<string, LockEntry> {
  const missing: Record<string, LockEntry> = {};
  for (const [path, entry] of Object.entries(packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      // npm resolves a dependency from the package's own node_modules up to the root's.
      const candidates: string[] = [];
      for (let dir = path; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
        candidates.push(`${dir ? `${dir}/` : ""}node_modules/${name}`);
        if (!dir) break;
      }
      if (candidates.some((c) => packages[c])) continue;
      missing[`node_modules/${name}`] = { version, ...(entry.dev ? { dev: true } : {}), optional: true };
    }
  }
  return missing;
}

if (import.meta.main) {
  const lock = JSON.parse(readFileSync(file, "utf8")) as { packages: Record<string, LockEntry> };
  const missing = missingOptionals(lock.packages);
  const names = Object.keys(missing);
  if (process.argv.includes("--check")) {
    if (names.length > 0)
      console.error(`package-lock.json lacks ${names.join(", ")}: run npx node scripts/fill-lock.ts`);
    process.exit(names.length > 0 ? 1 : 0);
  }
  const [root, ...rest] = Object.entries({ ...lock.packages, ...missing });
  rest.sort(([a], [b]) => a.localeCompare(b, "en"));
  lock.packages = Object.fromEntries(root ? [root, ...rest] : rest);
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(names.length > 0 ? `added stubs for ${names.join(", ")}` : "package-lock.json is complete");
}
