/**
 * `npm run bench:ab` works: two clusters side by side, windows alternated, the medians and ratios printed;
 * `--role` pairs one-client windows at a follower; a bad `--role` is refused with exit code 2. No timing is
 * judged here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..", "..");
const script = join(root, "scripts", "bench-ab.ts");
const main = join(root, "node", "src", "main.ts");

test("bench:ab pairs two builds' one-client windows at a follower and prints both ratios", { timeout: 180_000 }, () => {
  const args = [script, "--a", main, "--b", main, "--clients", "1", "--role", "follower", "--rounds", "2"];
  const r = spawnSync(process.execPath, [...args, "--window", "300"], {
    cwd: root,
    encoding: "utf8",
    timeout: 170_000,
  });
  assert.equal(r.status, 0, `bench:ab exited ${r.status}\n${r.stdout}\n${r.stderr.slice(-8000)}`);
  assert.match(r.stdout, /^round 1: A \d+\/s, B \d+\/s, B\/A \d+\.\d{3}$/m);
  assert.match(r.stdout, /^round 2: A \d+\/s, B \d+\/s, B\/A \d+\.\d{3}$/m);
  assert.match(
    r.stdout,
    /^write 256 B x1: A median \d+\/s, B median \d+\/s, B\/A median \d+\.\d{3} \([0-2] of 2 rounds above 1\)$/m,
  );
  assert.match(
    r.stdout,
    /^write 256 B x1 at the follower: p50 A \d+\.\d{3} ms, B \d+\.\d{3} ms, B\/A median \d+\.\d{3} \([0-2] of 2 rounds below 1\)$/m,
  );
  assert.doesNotMatch(r.stdout, /errors on [AB]/, "no window had errors");
});

test("bench:ab refuses a bad option with exit code 2, naming it, before starting anything", () => {
  const bad: Array<[string[], RegExp]> = [
    [["--role", "boss"], /--role must be leader or follower, not "boss"/],
    [["--rounds", "0"], /--rounds must be a positive whole number, not "0"/],
    [["--window", "fast"], /--window must be a positive whole number, not "fast"/],
    [["--clients", "-3"], /--clients must be a positive whole number, not "-3"/],
  ];
  for (const [args, why] of bad) {
    const r = spawnSync(process.execPath, [script, "--a", main, ...args], {
      cwd: root,
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, why);
    assert.equal(r.stdout, "", "no cluster was started");
  }
});
