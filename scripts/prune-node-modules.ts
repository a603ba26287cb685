/**
 * Trims a production node_modules for one container image (run by the deps stage of node/Dockerfile and
 * operator/Dockerfile):
 *
 *   node scripts/prune-node-modules.ts <app dir> <dependency>...
 *
 * <app dir> holds package-lock.json and node_modules (installed with `npm ci --omit=dev`, in the image or
 * staged on the host). It checks that node_modules is what the lock says (a stale staged copy fails the build),
 * keeps only the named dependencies and what they need (the node does not need @kubernetes/client-node, the
 * operator does not need level), deletes type declarations, source maps and other platforms' native
 * prebuilds, and removes npm's bookkeeping (.bin, .package-lock.json) that nothing reads at run time.
 * Exit code 1 with one line naming the problem.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

interface LockEntry {
  version?: string;
  dev?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Files no program loads at run time. */
const DEAD_FILE = /(\.d\.[mc]?ts|\.map)$/;

function fail(message: string): never {
  process.stderr.write(`prune-node-modules: ${message}\n`);
  process.exit(1);
}

/** The lock entry a `require(name)` from the package at `from` resolves to (Node's walk up the tree). */
function resolve(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (dir === "") return undefined;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

/** Lock paths of `roots` and everything they depend on. */
function closure(packages: Record<string, LockEntry>, roots: string[]): Set<string> {
  const keep = new Set<string>();
  const todo: Array<[from: string, name: string, optional: boolean]> = roots.map((r) => ["", r, false]);
  for (let item = todo.pop(); item !== undefined; item = todo.pop()) {
    const [from, name, optional] = item;
    const path = resolve(packages, from, name);
    if (path === undefined) {
      if (optional) continue;
      fail(`${name} (needed by ${from === "" ? "the image" : from}) is not in package-lock.json`);
    }
    if (keep.has(path)) continue;
    keep.add(path);
    const e = packages[path] as LockEntry;
    for (const d of Object.keys(e.dependencies ?? {})) todo.push([path, d, false]);
    for (const d of Object.keys(e.optionalDependencies ?? {})) todo.push([path, d, true]);
    for (const d of Object.keys(e.peerDependencies ?? {})) {
      todo.push([path, d, e.peerDependenciesMeta?.[d]?.optional === true]);
    }
  }
  return keep;
}

/** Deletes dead files below `dir`, and other platforms' prebuilds of native modules. */
function sweep(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === "prebuilds") sweepPrebuilds(path);
      else sweep(path);
    } else if (DEAD_FILE.test(entry.name)) rmSync(path);
  }
}

/** Keeps `<platform>-<arch>[+<arch>...]` folders of this process's platform and architecture only. */
function sweepPrebuilds(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const [platform, archs = ""] = entry.name.split("-", 2);
    const ours = platform === process.platform && archs.split("+").includes(process.arch);
    if (entry.isDirectory() && !ours) rmSync(join(dir, entry.name), { recursive: true });
  }
}

const [appDir, ...roots] = process.argv.slice(2);
if (appDir === undefined || roots.length === 0) {
  fail("usage: node scripts/prune-node-modules.ts <app dir> <dependency>...");
}
const modules = join(appDir, "node_modules");
const readLock = (file: string): Record<string, LockEntry> => {
  if (!existsSync(file)) fail(`${file} is missing`);
  return (JSON.parse(readFileSync(file, "utf8")) as { packages?: Record<string, LockEntry> }).packages ?? {};
};
const wanted = readLock(join(appDir, "package-lock.json"));
const installed = readLock(join(modules, ".package-lock.json"));

// The production part of the lock must be exactly what is installed, or the image would ship other code.
for (const [path, e] of Object.entries(wanted)) {
  if (path === "" || e.dev === true || e.link === true) continue;
  const got = installed[path]?.version;
  if (got !== e.version) {
    fail(
      `${path} is ${got ?? "missing"} in ${modules}, package-lock.json wants ${e.version}: stale staged modules? ` +
        "delete .cache/image-deps (scripts/build-images.sh --host-deps stages them afresh)",
    );
  }
}

const keep = closure(wanted, roots);
let removed = 0;
for (const path of Object.keys(installed)) {
  // Nothing below a dropped package can be kept: only code inside it resolves there.
  if (path === "" || keep.has(path) || !existsSync(join(appDir, path))) continue;
  rmSync(join(appDir, path), { recursive: true, force: true });
  removed++;
}
// Scope folders (@kubernetes) left empty.
for (const entry of readdirSync(modules)) {
  const path = join(modules, entry);
  if (entry.startsWith("@") && readdirSync(path).length === 0) rmSync(path, { recursive: true });
}
rmSync(join(modules, ".bin"), { recursive: true, force: true });
rmSync(join(modules, ".package-lock.json"), { force: true });
sweep(modules);
console.log(`prune-node-modules: kept ${keep.size} packages for ${roots.join(", ")}; removed ${removed}`);
