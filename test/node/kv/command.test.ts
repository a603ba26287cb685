/** Command validation, key rules, JSON equality and key order. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { apiError, ERROR_TABLE, type ErrorCode, errorHeaders, httpStatus } from "../../../node/src/errors.ts";
import { jsonEqual, keyProblem, MAX_KEY_BYTES, parseCommand, toCommand } from "../../../node/src/kv/command.ts";
import { compareKeys } from "../../../node/src/kv/key-order.ts";

function code(text: string): string | undefined {
  const r = parseCommand(text);
  return r.ok ? undefined : r.code;
}

test("valid commands parse to themselves", () => {
  for (const c of [
    { op: "set", kv: { a: 1, b: { x: [1, "y", null] }, c: "s" } },
    { op: "set", kv: {} },
    { op: "del", keys: ["a", "b"] },
    { op: "cas", key: "a", expect: null, value: 3 },
    { op: "cas", key: "a", expect: { v: 1 }, del: true },
  ]) {
    const r = parseCommand(JSON.stringify(c));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.value, c);
  }
});

test("malformed commands get stable codes", () => {
  assert.equal(code("{"), "BAD_JSON");
  assert.equal(code("[1]"), "BAD_BODY");
  assert.equal(code("null"), "BAD_BODY");
  assert.equal(code('{"op":"put"}'), "BAD_BODY");
  assert.equal(code('{"op":"set","kv":[1]}'), "BAD_BODY");
  assert.equal(code('{"op":"set","kv":{"a":null}}'), "BAD_BODY");
  assert.equal(code('{"op":"set","kv":{"":1}}'), "BAD_KEY");
  assert.equal(code('{"op":"del","keys":"a"}'), "BAD_BODY");
  assert.equal(code('{"op":"del","keys":[1]}'), "BAD_KEY");
  assert.equal(code('{"op":"cas","key":"a","value":1}'), "BAD_BODY");
  assert.equal(code('{"op":"cas","key":"a","expect":1}'), "BAD_BODY");
  assert.equal(code('{"op":"cas","key":"a","expect":1,"value":2,"del":true}'), "BAD_BODY");
  assert.equal(code('{"op":"cas","key":"a","expect":1,"del":false}'), "BAD_BODY");
  assert.equal(code('{"op":"cas","key":"a","expect":1,"value":null}'), "BAD_BODY");
  assert.equal(code('{"op":"cas","key":"","expect":1,"value":2}'), "BAD_KEY");
});

test("key limits: non-empty, at most 1024 UTF-8 bytes, well-formed", () => {
  assert.equal(keyProblem("a".repeat(MAX_KEY_BYTES)), undefined);
  assert.match(keyProblem("a".repeat(MAX_KEY_BYTES + 1)) ?? "", /1025 bytes/);
  // 342 × 3-byte characters = 1026 bytes although only 342 UTF-16 units.
  assert.match(keyProblem("€".repeat(342)) ?? "", /1026 bytes/);
  assert.equal(keyProblem("😀"), undefined);
  assert.match(keyProblem("\uD800") ?? "", /well-formed/);
  assert.match(keyProblem("a\uDC00b") ?? "", /well-formed/);
  assert.match(keyProblem(7) ?? "", /string/);
  assert.equal(toCommand({ op: "set", kv: { "\u0000x": 1 } }).ok, true);
});

test("jsonEqual ignores object key order only", () => {
  assert.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!jsonEqual([1, 2], [2, 1]));
  assert.ok(!jsonEqual(1, "1"));
  assert.ok(!jsonEqual({}, []));
  assert.ok(!jsonEqual({ a: undefined as unknown as null }, { b: 1 }));
});

test("compareKeys is UTF-8 byte order", () => {
  const keys = ["b", "a", "ab", "\uFFFD", "😀", "\uE000", "é", ""];
  const bytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual([...keys].sort(compareKeys), bytes);
  // Plain JS order differs for astral vs U+E000..U+FFFF.
  assert.notDeepEqual([...keys].sort(), bytes);
});

test("every code a command can be refused with is a 4xx in the error table", () => {
  const codes = new Set<string>();
  for (const text of ["{", "[]", '{"op":"set","kv":{"":1}}', '{"op":"set","kv":{"a":null}}']) {
    const r = parseCommand(text);
    if (!r.ok) codes.add(r.code);
  }
  assert.deepEqual([...codes].sort(), ["BAD_BODY", "BAD_JSON", "BAD_KEY"]);
  for (const c of codes) assert.equal(httpStatus(c as ErrorCode), 400);
  // No bad-input code maps to 5xx; every 503 carries Retry-After.
  for (const [c, info] of Object.entries(ERROR_TABLE)) {
    if (c.startsWith("BAD_") || c === "BODY_TOO_LARGE") assert.ok(info.status < 500, c);
    if (info.status === 503) assert.deepEqual(errorHeaders(c as ErrorCode), { "Retry-After": "1" });
  }
  assert.equal(httpStatus("NOT_LEADER"), 421);
  assert.deepEqual(apiError("NOT_LEADER", "not the leader", { leader: "n2" }), {
    error: "not the leader",
    code: "NOT_LEADER",
    leader: "n2",
  });
});
