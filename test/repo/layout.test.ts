/** The repository's fixed top-level layout, which README, CI and the tools rely on. */
import assert from "node:assert/strict";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { missingOptionals } from "../../scripts/fill-lock.ts";

const root = join(import.meta.dirname, "..", "..");

const files = ["package.json", "tsconfig.json", "biome.json", "skaffold.yaml", "README.md", ".ci/run"];
const folders = ["node", "operator", "crds", "charts", "test", "scripts"];

for (const file of files) {
  test(`${file} exists`, () => {
    assert.ok(existsSync(join(root, file)) && statSync(join(root, file)).isFile(), `${file} is missing`);
  });
}

for (const folder of folders) {
  test(`${folder}/ exists`, () => {
    assert.ok(existsSync(join(root, folder)) && statSync(join(root, folder)).isDirectory(), `${folder}/ is missing`);
  });
}

test(".ci/run is executable and runs npm ci then the full npm test", () => {
  const run = join(root, ".ci", "run");
  assert.doesNotThrow(() => accessSync(run, constants.X_OK), ".ci/run is not executable");
  const text = readFileSync(run, "utf8");
  assert.match(text, /^#!\/usr\/bin\/env bash\n/, ".ci/run must start with a bash shebang");
  assert.match(text, /^set -euo pipefail$/m, ".ci/run must set -euo pipefail");
  assert.match(text, /^\s*npm ci\b/m, ".ci/run must run npm ci");
  assert.match(text, /^\s*npm test\s*$/m, ".ci/run must run plain `npm test` (the README's command, nothing weaker)");
});

test("package.json runs scripts/test.ts as npm test and pins Node 24", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.equal(pkg.scripts?.test, "node scripts/test.ts");
  assert.match(pkg.devDependencies?.node ?? "", /^24\./);
});

test(".gitignore covers node_modules (a symlink too), dist and .cache", () => {
  const lines = readFileSync(join(root, ".gitignore"), "utf8").split("\n");
  // Without the slash: "node_modules/" would not match a symlinked node_modules (a worktree's).
  for (const entry of ["node_modules", "dist/", ".cache/"])
    assert.ok(lines.includes(entry), `.gitignore lacks ${entry}`);
});

test("package-lock.json has an entry for every optional dependency, so npm ci accepts it", () => {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
  const missing = Object.keys(missingOptionals(lock.packages));
  assert.deepEqual(missing, [], "npm ci would refuse this lock: run `npx node scripts/fill-lock.ts`");
});
