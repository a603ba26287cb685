import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bruteForceLinearizable } from "./brute-force.ts";
import type { Json, Operation } from "./history.ts";
import { canonicalJson, normalizeOp } from "./history.ts";
import type { CheckResult, Witness } from "./linearizability.ts";
import { checkHistory, formatWitness } from "./linearizability.ts";
import { prng, randomHistory } from "./random-history.ts";

// Builders: `ret` undefined means the outcome is unknown (timeout / connection error).
type C = string | number;
const done = (op: Operation, ret: number | undefined): Operation =>
  ret === undefined ? { ...op, status: "unknown" } : { ...op, ret };
const set = (client: C, key: string, value: Json, call: number, ret?: number): Operation =>
  done({ client, kind: "set", key, value, call }, ret);
const get = (client: C, key: string, output: Json, call: number, ret?: number): Operation =>
  done({ client, kind: "get", key, output, call }, ret);
const del = (client: C, key: string, call: number, ret?: number): Operation =>
  done({ client, kind: "delete", key, call }, ret);
const cas = (client: C, key: string, expect: Json, value: Json, ok: boolean, call: number, ret?: number): Operation =>
  done({ client, kind: "cas", key, expect, value, output: ok, call }, ret);
const failed = (op: Operation): Operation => ({ ...op, status: "fail" });
const ids = (h: Operation[]): Operation[] => h.map((op, id) => ({ ...op, id }));

function assertOk(h: Operation[]): void {
  const r = checkHistory(ids(h));
  assert.equal(r.ok, true, r.ok === false ? formatWitness(r.witness) : JSON.stringify(r));
}

function assertFails(h: Operation[], key: string): Witness {
  const r: CheckResult = checkHistory(ids(h));
  assert.equal(r.ok, false, `expected a violation, got ${JSON.stringify(r)}`);
  if (r.ok !== false) throw new Error("unreachable");
  assert.equal(r.key, key);
  assert.equal(r.witness.key, key);
  return r.witness;
}

test("sequential history", () => {
  assertOk([
    set(1, "x", "a", 0, 1),
    get(1, "x", "a", 2, 3),
    set(2, "x", "b", 4, 5),
    get(3, "x", "b", 6, 7),
    del(1, "x", 8, 9),
    get(2, "x", null, 10, 11),
  ]);
});

test("empty history and reads of a never-written key", () => {
  assertOk([]);
  assertOk([get(1, "x", null, 0, 1), get(2, "x", null, 0, 5)]);
});

test("concurrent set and get: either order works", () => {
  assertOk([set(1, "x", "a", 0, 10), get(2, "x", null, 2, 5), get(3, "x", "a", 3, 8)]);
  // Two overlapping writes: a later read may see either one.
  const writes = [set(1, "x", "a", 0, 10), set(2, "x", "b", 0, 10)];
  assertOk([...writes, get(3, "x", "a", 11, 12), get(3, "x", "a", 13, 14)]);
  assertOk([...writes, get(3, "x", "b", 11, 12)]);
  // Intervals that merely touch count as concurrent.
  assertOk([set(1, "x", "a", 0, 10), get(2, "x", null, 10, 12)]);
});

test("unknown-outcome set that later shows up", () => {
  assertOk([
    set(1, "x", "a", 0, 1),
    set(2, "x", "b", 2),
    get(3, "x", "a", 5, 6),
    get(3, "x", "b", 10, 11),
    get(4, "x", "b", 12, 13),
  ]);
  assertOk([set(1, "x", "a", 0, 1), del(2, "x", 2), get(3, "x", null, 10, 11)]);
});

test("unknown-outcome set that never shows up", () => {
  assertOk([set(1, "x", "a", 0, 1), set(2, "x", "b", 2), get(3, "x", "a", 10, 11), get(3, "x", "a", 20, 21)]);
  // Unknown reads are simply dropped.
  assertOk([set(1, "x", "a", 0, 1), get(2, "x", "whatever", 2)]);
});

test("unknown-outcome cas chain", () => {
  assertOk([set(1, "x", 1, 0, 1), cas(2, "x", 1, 2, true, 2), cas(3, "x", 2, 3, false, 3), get(4, "x", 3, 10, 11)]);
});

test("cas success and failure chains", () => {
  assertOk([
    set(1, "x", 1, 0, 1),
    cas(1, "x", 1, 2, true, 2, 3),
    cas(2, "x", 2, 3, true, 4, 5),
    cas(3, "x", 1, 4, false, 6, 7),
    get(1, "x", 3, 8, 9),
    cas(2, "x", null, 5, false, 10, 11),
    del(3, "x", 12, 13),
    cas(1, "x", null, 6, true, 14, 15),
    get(2, "x", 6, 16, 17),
  ]);
  // Contended cas: exactly one of two concurrent cas(1 -> _) wins; reads agree with the winner.
  assertOk([
    set(1, "x", 1, 0, 1),
    cas(2, "x", 1, 2, false, 2, 10),
    cas(3, "x", 1, 3, true, 2, 10),
    get(1, "x", 3, 11, 12),
  ]);
});

test("delete then get null; failed operations are ignored", () => {
  assertOk([set(1, "x", "a", 0, 1), del(2, "x", 2, 3), get(3, "x", null, 4, 5)]);
  assertOk([set(1, "x", "a", 0, 1), failed(set(2, "x", "b", 2, 3)), failed(del(3, "x", 4, 5)), get(1, "x", "a", 6, 7)]);
});

test("values compare as canonical JSON", () => {
  assertOk([set(1, "x", { a: 1, b: [1, { c: null }] }, 0, 1), get(2, "x", { b: [1, { c: null }], a: 1 }, 2, 3)]);
});

test("many keys are independent", () => {
  const h: Operation[] = [];
  for (let i = 0; i < 20; i++) {
    const key = `k${i % 10}`;
    h.push(set(i % 3, key, i, i * 2, i * 2 + 5), get((i + 1) % 3, key, i, i * 2 + 6, i * 2 + 7));
  }
  assertOk(h);
  h.push(get(9, "k3", 3, 100, 101)); // k3 was last set to 13
  const w = assertFails(h, "k3");
  assert.deepEqual(w.possibleValues, [13]);
});

test("stale read fails", () => {
  const w = assertFails([set(1, "x", "a", 0, 1), set(2, "x", "b", 2, 3), get(3, "x", "a", 4, 5)], "x");
  assert.equal(w.failedOp.kind, "get");
  assert.equal(w.failedOp.id, 2);
  assert.deepEqual(w.possibleValues, ["b"]);
  assert.equal(w.prefixLength, 2);
  assert.match(w.reason, /get returned "a" but the only possible value at that point was "b"/);
  const text = formatWitness(w);
  assert.match(text, /Key "x" is not linearizable/);
  assert.match(text, /#2 client 3: get\("x"\) -> "a" {2}\[4 \.\. 5\]/);
});

test("lost write fails", () => {
  const w = assertFails(
    [set(1, "x", "a", 0, 1), set(2, "x", "b", 2, 3), get(3, "x", "a", 10, 11), get(3, "x", "a", 20, 21)],
    "x",
  );
  assert.equal(w.failedOp.id, 2);
  assert.deepEqual(w.stateAfterPrefix, "b");
});

test("a read seeing a definitely-failed write fails", () => {
  const w = assertFails([set(1, "x", "a", 0, 1), failed(set(2, "x", "b", 2, 3)), get(3, "x", "b", 4, 5)], "x");
  assert.match(w.reason, /definitely failed \(#1\)/);
});

test("an unknown write cannot be seen before it was called", () => {
  assertFails([set(1, "x", "a", 0, 1), get(2, "x", "b", 2, 3), set(3, "x", "b", 5)], "x");
});

test("an unknown write takes effect at most once", () => {
  const h = [set(1, "x", "a", 0, 1), set(2, "x", "b", 2), get(3, "x", "b", 10, 11), set(1, "x", "c", 12, 13)];
  const w = assertFails([...h, get(3, "x", "b", 14, 15)], "x");
  assert.equal(w.failedOp.id, 4);
  // With a second, identical timed-out write it is fine.
  assertOk([...h, get(3, "x", "b", 14, 15), set(4, "x", "b", 3)]);
});

test("malformed operations are rejected with a clear message", () => {
  assert.throws(() => checkHistory([{ ...set(1, "x", "a", 5, 4), id: 7 }]), /operation 7: ret before call/);
  assert.throws(
    () => checkHistory([{ client: 1, kind: "cas", key: "x", value: 1, call: 0, ret: 1 }]),
    /boolean output/,
  );
  assert.throws(() => normalizeOp({ client: 1, kind: "set", key: "x", call: 0, ret: 1 }, 0), /missing value/);
});

test("two readers disagreeing on the order of two writes fails", () => {
  const w = assertFails(
    [
      set(1, "x", "x", 0, 100),
      set(2, "x", "y", 0, 100),
      get(3, "x", "x", 10, 20),
      get(4, "x", "y", 30, 40),
      get(3, "x", "y", 50, 60),
      get(4, "x", "x", 70, 80),
    ],
    "x",
  );
  assert.equal(w.failedOp.id, 5);
  assert.deepEqual(w.possibleValues, ["y"]);
});

test("cas that succeeded although expect could not match fails", () => {
  const w = assertFails(
    [set(1, "x", "b", 0, 1), set(1, "x", "a", 2, 3), cas(2, "x", "b", "c", true, 4, 5), get(3, "x", "a", 6, 7)],
    "x",
  );
  assert.match(w.reason, /cas expecting "b" succeeded but the only possible value at that point was "a"/);
  assert.equal(w.failedOp.id, 2);
  // And the converse: reported "not ok" while the value must have matched.
  assertFails([set(1, "x", "a", 0, 1), cas(2, "x", "a", "c", false, 2, 3)], "x");
});

test("witness lists pending operations and all possible values", () => {
  const w = assertFails(
    [set(1, "x", 3, 0, 1), del(1, "x", 2, 3), set(1, "x", 1, 10, 20), set(2, "x", 2, 10, 20), get(3, "x", 3, 15, 16)],
    "x",
  );
  assert.deepEqual(w.possibleValues.toSorted(), [1, 2, null]);
  assert.match(
    w.reason,
    /get returned 3 but the only possible values at that point were null \(absent\), . \(never read\) or . \(never read\)/,
  );
  assert.match(w.reason, /3 was written only by #0 \[0 \.\. 1\]/);
  assert.equal(w.concurrentTotal + w.prefixLength, 4);
  assert.match(formatWitness(w), /Longest linearizable prefix: \d operation\(s\)/);
});

test("a read of a value nobody wrote in time fails without searching", () => {
  const w = assertFails(
    [set(1, "x", "a", 0, 1), get(2, "x", "b", 2, 3), set(3, "x", "b", 4, 5), get(4, "x", "z", 6, 7)],
    "x",
  );
  assert.equal(w.failedOp.id, 1); // the earliest such read
  assert.match(
    w.reason,
    /get returned "b" but no operation that could have taken effect before it returned wrote that value; it was first written by #2, called at 4/,
  );
  assert.deepEqual(w.possibleValues, []);
  assert.doesNotMatch(formatWitness(w), /prefix/);
});

test("budget exhaustion yields unknown instead of hanging", () => {
  // 20 concurrent writes then a stale read: every subset and order is explored.
  const h: Operation[] = [set(98, "x", "old", -10, -9), set(98, "x", "new", -8, -7)];
  for (let c = 0; c < 20; c++) h.push(set(c, "x", c, 0, 100));
  h.push(get(99, "x", "old", 50, 60));
  const bySteps = checkHistory(ids(h), { maxSteps: 10_000 });
  assert.equal(bySteps.ok, null);
  const start = performance.now();
  const byTime = checkHistory(ids(h), { timeoutMs: 200 });
  assert.equal(byTime.ok, null);
  assert.ok(performance.now() - start < 2000);
});

/**
 * Makes the first suitable read from index `from` on stale: it returns a value v
 * that was written before, but every write of v returned before the latest
 * acknowledged set W of another value was called, and W returned before the read.
 */
function injectStaleRead(h: Operation[], from: number): { bad: Operation[]; target: number } {
  const writes = (o: Operation): boolean =>
    o.status !== "fail" && (o.kind === "set" || (o.kind === "cas" && o.output !== false));
  const canon = h.map((o) => canonicalJson(o.value));
  for (let i = from; i < h.length; i++) {
    const r = h[i] as Operation;
    if (r.kind !== "get" || r.status !== undefined) continue;
    const lastRet = new Map<string, { ret: number; value: Json }>(); // per value, its latest-returning write called in time
    let w: Operation | undefined;
    h.forEach((o, j) => {
      if (o.key !== r.key || !writes(o) || o.call > (r.ret ?? 0)) return;
      const c = canon[j] ?? "";
      lastRet.set(c, { ret: Math.max(lastRet.get(c)?.ret ?? -Infinity, o.ret ?? Infinity), value: o.value ?? null });
      if (o.kind === "set" && o.status === undefined && (o.ret ?? Infinity) < r.call && (!w || o.call > w.call)) w = o;
    });
    if (!w) continue;
    for (const [c, { ret, value }] of lastRet) {
      if (c !== canonicalJson(w.value) && ret < w.call)
        return { bad: h.map((op, j) => (j === i ? { ...op, output: value } : op)), target: i };
    }
  }
  throw new Error("no read to make stale");
}

test("randomized: 100k-op linearizable history passes; a corrupted or stale read fails", (t) => {
  const h = randomHistory({ ops: 100_000, keys: 16, clients: 10, seed: 42 });
  let start = performance.now();
  const r = checkHistory(h, { timeoutMs: 60_000 });
  const okMs = performance.now() - start;
  t.diagnostic(`100k ops, 16 keys, 10 clients: linearizable in ${okMs.toFixed(0)} ms`);
  assert.equal(r.ok, true, r.ok === false ? formatWitness(r.witness) : JSON.stringify(r));
  assert.ok(okMs < 20_000, `took ${okMs} ms`);

  // An impossible value in one read from the middle of the history.
  const target = h.findIndex((op, i) => i > 50_000 && op.kind === "get" && op.status === undefined);
  const bad = h.map((op, i) => (i === target ? { ...op, output: { impossible: true } } : op));
  start = performance.now();
  const rb = checkHistory(bad, { timeoutMs: 60_000 });
  t.diagnostic(`impossible read rejected in ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(rb.ok, false);
  if (rb.ok !== false) return;
  assert.equal(rb.key, h[target]?.key);
  assert.equal(rb.witness.failedOp.id, target);
  assert.match(rb.witness.reason, /no operation ever wrote \{"impossible":true\}/);

  // A stale read needs the full search to refute.
  const stale = injectStaleRead(h, 50_000);
  start = performance.now();
  const rs = checkHistory(stale.bad, { timeoutMs: 60_000 });
  t.diagnostic(`stale read rejected in ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(rs.ok, false);
  if (rs.ok === false) assert.equal(rs.witness.failedOp.id, stale.target, formatWitness(rs.witness));
});

test("randomized: stale read in a single-key, small-domain history fails", () => {
  const h = randomHistory({ ops: 3_000, keys: 1, seed: 7, valueDomain: 5, unknownRate: 0.005 });
  assert.equal(checkHistory(h).ok, true);
  const { bad } = injectStaleRead(h, 1_500);
  const r = checkHistory(bad, { timeoutMs: 30_000 });
  assert.equal(r.ok, false, JSON.stringify(r));
});

test("randomized: small value domain (ambiguous reads) stays linearizable", (t) => {
  const h = randomHistory({ ops: 30_000, keys: 4, clients: 10, seed: 3, valueDomain: 4, unknownRate: 0.005 });
  const start = performance.now();
  const r = checkHistory(h, { timeoutMs: 60_000 });
  t.diagnostic(`30k ops, 4 keys, values 0..3: ${(performance.now() - start).toFixed(0)} ms`);
  assert.equal(r.ok, true, r.ok === false ? formatWitness(r.witness) : JSON.stringify(r));
});

test("CLI: exit 0 for a linearizable history, 1 with a witness otherwise", () => {
  const dir = mkdtempSync(join(tmpdir(), "lin-"));
  const good = join(dir, "good.jsonl");
  const bad = join(dir, "bad.jsonl");
  const lines = (h: Operation[]): string =>
    `${ids(h)
      .map((op) => JSON.stringify(op))
      .join("\n")}\n`;
  writeFileSync(
    good,
    lines([set(1, "x", "a", 0, 1), get(2, "x", "a", 2, 3), { ...set(3, "x", "b", 4), status: undefined }]),
  );
  writeFileSync(bad, lines([set(1, "x", "a", 0, 1), set(2, "x", "b", 2, 3), get(3, "x", "a", 4, 5)]));
  const cli = join(import.meta.dirname, "check-history.ts");
  const ok = spawnSync(process.execPath, [cli, good], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /linearizable/);
  const ko = spawnSync(process.execPath, [cli, bad], { encoding: "utf8" });
  assert.equal(ko.status, 1, ko.stderr);
  assert.match(ko.stdout, /get returned "a"/);
});

test("randomized: agrees with a brute-force checker on thousands of tiny histories", () => {
  const rand = prng(1234);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const values: Json[] = [1, 2, { a: 1 }, null];
  let failures = 0;
  for (let n = 0; n < 3000; n++) {
    const h: Operation[] = [];
    const size = 2 + Math.floor(rand() * 6);
    for (let i = 0; i < size; i++) {
      const call = Math.floor(rand() * 12);
      const ret = call + Math.floor(rand() * 6);
      const kind = pick(["set", "get", "get", "delete", "cas", "cas"] as const);
      const op: Operation = { id: i, client: i, kind, key: "x", call };
      if (kind === "set" || kind === "cas") op.value = pick(values);
      if (kind === "cas") {
        op.expect = pick(values);
        op.output = rand() < 0.5;
      }
      if (kind === "get") op.output = pick(values);
      const r = rand();
      if (r < 0.2) op.status = "unknown";
      else op.ret = ret;
      if (r >= 0.2 && r < 0.3) op.status = "fail";
      h.push(op);
    }
    const expected = bruteForceLinearizable(h);
    const got = checkHistory(h);
    if (!expected) failures++;
    assert.equal(
      got.ok,
      expected,
      `history ${n}: ${JSON.stringify(h)}\n${got.ok === false ? formatWitness(got.witness) : ""}`,
    );
  }
  assert.ok(failures > 300 && failures < 2700, `want a mix of verdicts, got ${failures} failures`);
  // Simulated (linearizable) tiny histories with many timeouts, half with one result flipped.
  for (let n = 0; n < 3000; n++) {
    const h = randomHistory({
      ...{
        ops: 3 + Math.floor(rand() * 9),
        seed: n,
        keys: 1 + Math.floor(rand() * 2),
        clients: 1 + Math.floor(rand() * 4),
      },
      ...{
        valueDomain: 1 + Math.floor(rand() * 3),
        unknownRate: rand() * 0.6,
        failRate: 0.05,
        spread: 1 + Math.floor(rand() * 8),
      },
    });
    const op = h[Math.floor(rand() * h.length)] as Operation;
    if (rand() < 0.5 && op.kind === "get") op.output = Math.floor(rand() * 3);
    if (rand() < 0.5 && op.kind === "cas") op.output = !op.output;
    const got = checkHistory(h);
    assert.equal(got.ok, bruteForceLinearizable(h), `simulated history ${n}: ${JSON.stringify(h)}`);
  }
});
