/**
 * Storage corruption on a stopped node of a real 3-node cluster: LevelDB's
 * files (CURRENT, MANIFEST, the write-ahead .log, the .ldb tables) of one
 * node's STATE_DIR are truncated, deleted or have bytes flipped, and the node
 * is started again. It must either refuse to start (non-zero exit and a
 * message saying what is wrong) or recover safely: whatever it serves, even
 * while catching up, is a value the cluster acknowledged for that key, and
 * once caught up it holds exactly the cluster's data. Meanwhile the two
 * healthy nodes keep serving every acknowledged write.
 *
 * RAFTKV_FUZZ_SEED=N changes the data and the random flips.
 */

import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../node/src/raft/rng.ts";
import { TestCluster, waitFor } from "../cluster/harness.ts";
import { entriesOf, readAll } from "./raw-http.ts";

const SEED = Number(process.env.RAFTKV_FUZZ_SEED ?? 424_242);

/** A corruption: changes files in a stopped node's directory; returns what it did. */
type Corruption = (dir: string, rng: Rng) => string;

const files = (dir: string, re: RegExp) =>
  readdirSync(dir)
    .filter((n) => re.test(n) && statSync(join(dir, n)).size > 0)
    .sort();

function one(dir: string, re: RegExp, rng: Rng): string {
  const all = files(dir, re);
  assert.ok(all.length > 0, `no non-empty file matching ${re} in ${dir}: ${readdirSync(dir).join(", ")}`);
  return rng.pick(all);
}

function flip(dir: string, name: string, at: number, n = 1): string {
  const p = join(dir, name);
  const b = readFileSync(p);
  for (let k = 0; k < n && at + k < b.length; k++) b[at + k] = (b[at + k] as number) ^ 0xff;
  writeFileSync(p, b);
  return `${name}: flipped ${n} byte(s) at ${at} of ${b.length}`;
}

function truncHalf(dir: string, name: string): string {
  const size = statSync(join(dir, name)).size;
  truncateSync(join(dir, name), Math.floor(size / 2));
  return `${name}: truncated from ${size} to ${Math.floor(size / 2)} bytes`;
}

const SCENARIOS: Array<[string, Corruption]> = [
  [
    "CURRENT deleted",
    (d) => {
      unlinkSync(join(d, "CURRENT"));
      return "CURRENT deleted";
    },
  ],
  [
    "CURRENT emptied",
    (d) => {
      truncateSync(join(d, "CURRENT"), 0);
      return "CURRENT emptied";
    },
  ],
  [
    "CURRENT names a missing MANIFEST",
    (d) => {
      writeFileSync(join(d, "CURRENT"), "MANIFEST-999999\n");
      return "CURRENT → MANIFEST-999999";
    },
  ],
  ["MANIFEST truncated", (d, r) => truncHalf(d, one(d, /^MANIFEST-/, r))],
  [
    "MANIFEST byte flipped",
    (d, r) => {
      const m = one(d, /^MANIFEST-/, r);
      return flip(d, m, r.int(8, statSync(join(d, m)).size - 8));
    },
  ],
  [
    "MANIFEST deleted",
    (d, r) => {
      const m = one(d, /^MANIFEST-/, r);
      unlinkSync(join(d, m));
      return `${m} deleted`;
    },
  ],
  ["write-ahead log cut in half", (d, r) => truncHalf(d, one(d, /^\d+\.log$/, r))],
  [
    "write-ahead log byte flipped mid-file",
    (d, r) => {
      const l = one(d, /^\d+\.log$/, r);
      const size = statSync(join(d, l)).size;
      return flip(d, l, r.int(Math.floor(size / 4), Math.floor(size / 2)));
    },
  ],
  [
    "write-ahead log deleted",
    (d, r) => {
      const l = one(d, /^\d+\.log$/, r);
      unlinkSync(join(d, l));
      return `${l} deleted`;
    },
  ],
  [
    "table byte flipped",
    (d, r) => {
      const t = one(d, /^\d+\.ldb$/, r);
      const size = statSync(join(d, t)).size;
      return flip(d, t, r.int(16, Math.floor(size / 2)), 4);
    },
  ],
  ["table truncated", (d, r) => truncHalf(d, one(d, /^\d+\.ldb$/, r))],
  [
    "table deleted",
    (d, r) => {
      const t = one(d, /^\d+\.ldb$/, r);
      unlinkSync(join(d, t));
      return `${t} deleted`;
    },
  ],
  [
    "random bytes flipped across every file",
    (d, r) => {
      const done: string[] = [];
      for (let k = 0; k < 6; k++) {
        const f = one(d, /^(CURRENT|MANIFEST-\d+|\d+\.(log|ldb))$/, r);
        done.push(flip(d, f, r.int(0, statSync(join(d, f)).size)));
      }
      return done.join("; ");
    },
  ],
];

/**
 * Scenarios where the node today neither refuses nor recovers (see the report in the test output);
 * they still must never serve a wrong value, but "refuse or recover" is a todo there. None today:
 * a truncated or deleted write-ahead log is refused at open by the high-water mark in
 * RAFTKV-STORE.json (the node was stopped cleanly, so the mark is exact), and a value failing its
 * checksum on read stops the node with exit 3.
 */
const KNOWN: Record<string, string> = {};

test(`a node with corrupted storage refuses to start or recovers safely (seed ${SEED})`, {
  timeout: 150_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "corrupt-store-secret" });
  c.startAll();
  const li = await c.waitLeader();
  const rng = new Rng(SEED);
  const v = [0, 1, 2].find((i) => i !== li) as number;
  const healthy = [0, 1, 2].filter((i) => i !== v);
  const victim = c.nodes[v];
  assert.ok(victim);

  // Acknowledged writes: small keys, and ~5 MB of incompressible values so LevelDB flushes tables.
  const model = new Map<string, unknown>();
  const write = async (kv: Record<string, unknown>) => {
    const r = await c.http(li, "POST", "/key", kv, 20_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const [k, val] of Object.entries(kv)) model.set(k, val);
  };
  for (let k = 0; k < 24; k++) {
    const bytes = Buffer.alloc(150_000);
    for (let j = 0; j < bytes.length; j++) bytes[j] = rng.int(0, 256);
    await write({ [`blob${k}`]: bytes.toString("base64"), [`n${k}`]: { k, s: "ü😀" } });
  }
  await waitFor("the victim applied everything", 20_000, async () => {
    const [s, l] = await Promise.all([c.status(v), c.status(li)]);
    return s && l && s.appliedIndex >= l.commitIndex ? true : undefined;
  });
  assert.equal((await c.kill(v, "SIGTERM"))?.code, 0);
  const pristine = `${victim.dir}.pristine`;
  cpSync(victim.dir, pristine, { recursive: true });
  t.diagnostic(`victim ${victim.id} files: ${readdirSync(pristine).join(", ")}`);

  const outcomes: string[] = [];
  for (const [name, corrupt] of SCENARIOS) {
    await t.test(name, async (st) => {
      rmSync(victim.dir, { recursive: true, force: true });
      cpSync(pristine, victim.dir, { recursive: true });
      const what = corrupt(victim.dir, rng);
      // Random flips that all landed in tables are the known "table byte flipped" case.
      const onlyTables = name.startsWith("random") && what.split("; ").every((part) => /^\d+\.ldb:/.test(part));
      const known = KNOWN[name] ?? (onlyTables ? KNOWN["table byte flipped"] : undefined);
      // The cluster moves on while the victim is down.
      await write({ [`during-${name}`]: what });

      const from = victim.lines.length;
      c.start(v);
      let exit: { code: number | null } | undefined;
      void victim.exit?.then((e) => {
        exit = e;
      });
      // Until it exits or holds everything: every value it serves must be one the cluster acknowledged.
      let caughtUp = false;
      let served = 0;
      let readErrors = 0;
      const deadline = Date.now() + (known ? 5_000 : 15_000);
      while (exit === undefined && !caughtUp && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 150));
        let data: Map<string, unknown>;
        try {
          data = await readAll(c, v);
        } catch {
          readErrors++; // not listening yet, or refusing reads: neither serves wrong data
          continue;
        }
        served++;
        for (const [k, val] of data) {
          assert.ok(model.has(k), `${name} (${what}): ${victim.id} serves key ${k} nobody wrote`);
          assert.deepEqual(val, model.get(k), `${name} (${what}): ${victim.id} serves a wrong value for ${k}`);
        }
        const [s, l] = await Promise.all([c.status(v), c.status(li)]);
        caughtUp = !!s && !!l && s.appliedIndex >= l.commitIndex && data.size === model.size;
      }
      const out = victim.lines.slice(from).join("\n");
      const status = exit === undefined ? await c.status(v) : undefined;
      if (exit !== undefined) {
        assert.notEqual(exit.code, 0, `${name}: exited 0`);
        assert.match(
          out,
          /corrupt|cannot (start|open)|damaged|missing/i,
          `${name}: no clear message:\n${out.slice(-2000)}`,
        );
        const line = victim.lines.slice(from).find((l) => /^raftkv-node: |"level":"error"/.test(l)) ?? "";
        const msg = /"message":"([^"]*)/.exec(line)?.[1] ?? line;
        outcomes.push(`${name}: refused, exit ${exit.code}: ${msg.slice(0, 220)}`);
      } else if (caughtUp) {
        assert.deepEqual(entriesOf(await readAll(c, v)), entriesOf(model), `${name}: data after catching up`);
        outcomes.push(`${name}: started and recovered (${served} full reads checked while catching up)`);
      } else {
        outcomes.push(
          `${name}: started but neither refused nor recovered: applied ${status?.appliedIndex} of ` +
            `${(await c.status(li))?.commitIndex}, ${readErrors} failed reads (${what})`,
        );
      }
      const refusedOrRecovered = exit !== undefined || caughtUp;
      await c.kill(v, "SIGTERM");
      // The healthy nodes serve every acknowledged write, stale and linearizable.
      for (const i of healthy) {
        assert.deepEqual(entriesOf(await readAll(c, i)), entriesOf(model), `node ${i} after ${name}`);
        const k = `during-${name}`;
        const r = await c.http(i, "GET", `/key/${encodeURIComponent(k)}`);
        assert.deepEqual(r.body, { [k]: model.get(k) });
      }
      await st.test("the node refused to start or recovered fully", known ? { todo: known } : {}, () => {
        assert.ok(refusedOrRecovered, `${name} (${what}): ${outcomes.at(-1)}\n${out.slice(-1500)}`);
        // A lost write-ahead log cannot be recovered from locally: the high-water mark must refuse it.
        if (/^write-ahead log (cut in half|deleted)$/.test(name)) {
          assert.equal(exit?.code, 3, `${name}: ${outcomes.at(-1)}`);
          assert.match(out, /acknowledged writes were lost/, name);
        }
      });
    });
  }
  for (const o of outcomes) t.diagnostic(o);
  rmSync(pristine, { recursive: true, force: true });
});
