/**
 * Fast unit tests of the fault runner's pure parts: how answers become
 * outcomes, the lost-write rule, option parsing, and the final line. The
 * runs on real clusters are in test/faults/runs/ (the "faults" tier).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs } from "./args.ts";
import { checkHistory } from "./linearizability.ts";
import { countStatuses } from "./runner.ts";
import { parseFinalLine } from "./runs/spawn-run.ts";
import { lostWrites } from "./verify.ts";
import { classify, type Exchange, type RecordedOp } from "./workload.ts";

const answer = (status: number, body: unknown): Exchange => ({
  kind: "answer",
  status,
  body: JSON.stringify(body),
  via: undefined,
});

test("classify: answers and errors become ok, fail or unknown per docs/errors.md", () => {
  const get = { kind: "get" as const, key: "k" };
  const set = { kind: "set" as const, key: "k" };
  const cas = { kind: "cas" as const, key: "k" };
  assert.deepEqual(classify(get, answer(200, { k: "v" })), { status: "ok", output: "v" });
  assert.deepEqual(classify(get, answer(200, { k: null })), { status: "ok", output: null });
  assert.equal(classify(get, answer(200, { other: 1 })).status, "unknown");
  assert.deepEqual(classify(set, answer(200, { index: 4 })), { status: "ok" });
  assert.deepEqual(classify(cas, answer(200, { ok: true })), { status: "ok", output: true });
  assert.deepEqual(classify(cas, answer(409, { code: "CAS_MISMATCH", current: 1 })), {
    status: "ok",
    output: false,
    code: "CAS_MISMATCH",
  });
  assert.equal(classify(set, answer(400, { code: "BAD_BODY" })).status, "fail");
  for (const code of ["NO_LEADER", "TRANSFERRING", "NOT_READY"])
    assert.equal(classify(set, answer(503, { code })).status, "fail", code);
  assert.equal(classify(set, answer(507, { code: "STORAGE_FULL" })).status, "fail");
  assert.equal(classify(set, answer(503, { code: "UNAVAILABLE" })).status, "unknown");
  assert.equal(classify(set, answer(500, { code: "INTERNAL" })).status, "unknown");
  assert.equal(classify(set, answer(502, "<html>")).status, "unknown");
  assert.equal(classify(set, { kind: "error", sent: false, code: "ECONNREFUSED" }).status, "fail");
  assert.equal(classify(set, { kind: "error", sent: true, code: "TIMEOUT" }).status, "unknown");
  assert.equal(classify(set, { kind: "error", sent: true, code: "ECONNRESET" }).status, "unknown");
});

let nextId = 0;
function op(o: Partial<RecordedOp> & Pick<RecordedOp, "kind" | "call">): RecordedOp {
  return { id: nextId++, client: 0, key: "k", node: "node1", status: "ok", ...o };
}

test("lostWrites: an acknowledged write replaced by an older value is lost", () => {
  const a = op({ kind: "set", value: "a", call: 0, ret: 10 });
  const b = op({ kind: "set", value: "b", call: 20, ret: 30 });
  assert.deepEqual(lostWrites([a, b], new Map([["k", "b"]])), []);
  const lost = lostWrites([a, b], new Map([["k", "a"]]));
  assert.equal(lost.length, 1);
  assert.equal(lost[0]?.op, b);
  // Concurrent writes may end in either order.
  const c = op({ kind: "set", value: "c", call: 5, ret: 25 });
  assert.deepEqual(lostWrites([a, c], new Map([["k", "a"]])), []);
  // An unknown-outcome writer may have taken effect at any time after its call.
  const u = op({ kind: "set", value: "u", call: 1, status: "unknown" });
  assert.deepEqual(lostWrites([u, b], new Map([["k", "u"]])), []);
});

test("lostWrites: absent keys need a delete that could follow; unknown values are reported", () => {
  const a = op({ kind: "set", value: "a", call: 0, ret: 10 });
  const d = op({ kind: "delete", call: 20, ret: 30 });
  assert.deepEqual(lostWrites([a, d], new Map([["k", null]])), []);
  assert.equal(lostWrites([a], new Map([["k", null]])).length, 1);
  const early = op({ kind: "delete", call: 0, ret: 5 });
  const late = op({ kind: "set", value: "x", call: 6, ret: 8 });
  assert.equal(lostWrites([early, late], new Map([["k", null]])).length, 1);
  // A compare-and-delete counts as a delete; a failed one does not.
  const casDel = op({ kind: "cas", expect: "x", value: null, output: true, call: 9, ret: 12 });
  assert.deepEqual(lostWrites([early, late, casDel], new Map([["k", null]])), []);
  const phantom = lostWrites([a], new Map([["k", "zzz"]]));
  assert.equal(phantom.length, 1);
  assert.match(phantom[0]?.why ?? "", /never written/);
});

test("a stale read after an acknowledged write is a violation the checker reports", () => {
  const h = [
    op({ kind: "set", value: "a", call: 0, ret: 10 }),
    op({ kind: "set", value: "b", call: 20, ret: 30 }),
    op({ kind: "get", output: "a", call: 40, ret: 50 }),
  ];
  const r = checkHistory(h);
  assert.equal(r.ok, false);
});

test("parseArgs: the documented flags, `all`, and bad input", () => {
  const o = parseArgs(["--nodes", "5", "--ops=200", "--faults", "kill,pause", "--seed", "9", "--hold-ms", "100-200"]);
  assert.equal(o.nodes, 5);
  assert.equal(o.ops, 200);
  assert.deepEqual(o.faults, ["kill", "pause"]);
  assert.equal(o.seed, 9);
  assert.deepEqual(o.holdMs, [100, 200]);
  assert.equal(parseArgs(["--faults", "all"]).faults.length, 12);
  assert.deepEqual(parseArgs(["--faults", "none"]).faults, []);
  // Without --faults every type runs; long runs get more rounds and a longer limit, unless told otherwise.
  const dflt = parseArgs(["--nodes", "3"]);
  assert.equal(dflt.faults.length, 12);
  assert.equal(dflt.rounds, 1);
  assert.equal(dflt.maxSeconds, 600);
  const long = parseArgs(["--ops", "100000"]);
  assert.equal(long.rounds, 33);
  assert.ok(long.maxSeconds >= 33 * 12 * 15, `limit ${long.maxSeconds} s`);
  assert.equal(parseArgs(["--ops", "100000", "--rounds", "2", "--max-seconds", "99"]).rounds, 2);
  assert.equal(parseArgs(["--ops", "100000", "--rounds", "2", "--max-seconds", "99"]).maxSeconds, 99);
  assert.throws(() => parseArgs(["--faults", "kill,meteor"]), /unknown fault type/);
  assert.throws(() => parseArgs(["--faults", "kill", "--bug", "nope"]), /--bug needs/);
  assert.throws(() => parseArgs(["--faults", "kill", "--frobnicate"]), /unknown argument/);
});

test("the final line parses, and status counts group error codes", () => {
  assert.deepEqual(parseFinalLine("x\nfaults: 1500 ops, 11 faults, 0 violations, 0 lost\n"), {
    ops: 1500,
    faults: 11,
    violations: 0,
    lost: 0,
  });
  assert.equal(parseFinalLine("faults: 1 ops\n"), undefined);
  const h = [
    op({ kind: "get", call: 0, ret: 1, output: null }),
    op({ kind: "set", value: "v", call: 0, status: "fail", code: "ECONNREFUSED", ret: 1 }),
    op({ kind: "set", value: "w", call: 0, status: "fail", code: "ECONNREFUSED", ret: 1 }),
    op({ kind: "set", value: "x", call: 0, status: "unknown", code: "TIMEOUT" }),
  ];
  assert.equal(countStatuses(h), "1 ok, 2 fail (ECONNREFUSED 2), 1 unknown (TIMEOUT 1)");
});
