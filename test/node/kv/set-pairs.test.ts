/** The plain reader of set commands: what it accepts it reads exactly as JSON.parse does; the rest it leaves. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { applyParsed, entryCommand, isSetCommand, type KvView } from "../../../node/src/kv/apply.ts";
import { encodeCommand, type JsonValue, parseCommand } from "../../../node/src/kv/command.ts";
import { plainSetPairs, readPlainPairs } from "../../../node/src/kv/set-pairs.ts";
import { Rng } from "../../../node/src/raft/rng.ts";

const entry = (data: string) => ({ index: 1, term: 1, type: "normal" as const, data });

/** The state after applying `data` to an empty store, and the result: through entryCommand (the reader first). */
function applied(data: string): { state: Map<string, JsonValue>; result: unknown } {
  const state = new Map<string, JsonValue>();
  const view: KvView = {
    read: (k) => state.get(k),
    write: (k, v) => (v === undefined ? state.delete(k) : state.set(k, v)),
  };
  return { state, result: applyParsed(entryCommand(entry(data)), view) };
}

/** The same through JSON.parse alone, as before the reader existed. */
function appliedByParse(data: string): { state: Map<string, JsonValue>; result: unknown } {
  const p = parseCommand(data);
  if (!p.ok) return { state: new Map(), result: { op: "invalid", ok: false, error: p.error } };
  if (p.value.op !== "set") return applied(data);
  return { state: new Map(Object.entries(p.value.kv)), result: { op: "set", ok: true } };
}

/** What the leader checked before the reader: a valid set, written by encodeCommand (`op` first). */
function setByParse(text: string): boolean {
  const p = parseCommand(text);
  return text.startsWith('{"op":"set"') && p.ok && p.value.op === "set";
}

test("reads plain sets, in text order", () => {
  assert.deepEqual(plainSetPairs('{"op":"set","kv":{"a":"1","b/c":"x y","é":"☃"}}'), [
    ["a", "1"],
    ["b/c", "x y"],
    ["é", "☃"],
  ]);
  assert.deepEqual(plainSetPairs('{"op":"set","kv":{}}'), []);
  assert.deepEqual(readPlainPairs('xx{"k":"v"}yy', 2), { pairs: [["k", "v"]], end: 11 });
  // encodeCommand's own text is plain whenever keys and values are plain strings.
  assert.deepEqual(plainSetPairs(encodeCommand({ op: "set", kv: { ["__proto__"]: "p", "2": "n", z: "" } })), [
    ["2", "n"],
    ["__proto__", "p"],
    ["z", ""],
  ]);
});

test("leaves everything else to JSON.parse", () => {
  for (const text of [
    '{"op":"set","kv":{"a":1}}', // not a string value
    '{"op":"set","kv":{"a":{"b":"c"}}}',
    '{"op":"set","kv":{"a":"\\n"}}', // an escape
    '{"op":"set","kv":{"a\\"b":"c"}}',
    '{"op":"set","kv":{"a":"b\u0001"}}', // a raw control character: invalid JSON
    '{"op":"set","kv":{ "a":"b"}}', // white space
    '{"op":"set","kv":{"a":"b","a":"c"}}', // a repeated key: JSON.parse keeps the last
    '{"op":"set","kv":{"a":"b"},"x":1}',
    '{"op":"set","kv":{"a":"b"}} ',
    '{"op":"set","kv":{"a":"b"',
    '{"op":"set","kv":{"a":"b",}}',
    '{"op":"set","kv":{"a"}}',
    '{"op":"del","keys":["a"]}',
    '{"kv":{"a":"b"},"op":"set"}',
  ]) {
    assert.equal(plainSetPairs(text), undefined, text);
  }
});

test("a set the reader refuses still applies as JSON.parse reads it; bad keys are still refused", () => {
  for (const text of [
    '{"op":"set","kv":{"a":"b","a":"c"}}',
    '{"op":"set","kv":{"a":"\\u00e9\\n"}}',
    '{"op":"set","kv":{"":"empty key"}}',
    '{"op":"set","kv":{"\\ud800":"lone surrogate"}}',
    `{"op":"set","kv":{"${"k".repeat(1025)}":"too long"}}`,
    '{"op":"set","kv":{"a":null}}',
    '{"op":"set","kv":{"a":"b"}',
  ]) {
    assert.deepEqual(applied(text), appliedByParse(text), text);
    assert.equal(isSetCommand(text), setByParse(text), text);
  }
  // A plain text whose key breaks the key rules is refused exactly as before.
  const long = `{"op":"set","kv":{"${"k".repeat(1025)}":"v"}}`;
  assert.notEqual(plainSetPairs(long), undefined);
  assert.equal((applied(long).result as { op: string }).op, "invalid");
});

/** A random string from pieces that matter to JSON: quotes, escapes, control characters, non-ASCII. */
function piece(rng: Rng): string {
  const parts = ["a", "k/1", "é", "☃", "😀", '"', "\\", "\n", "\u0001", " ", "0", "12", "__proto__", "x".repeat(40)];
  let s = "";
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) s += parts[rng.int(0, parts.length)];
  return s;
}

function value(rng: Rng): JsonValue {
  switch (rng.int(0, 6)) {
    case 0:
      return rng.int(0, 1000);
    case 1:
      return { n: piece(rng) };
    case 2:
      return [piece(rng)];
    default:
      return piece(rng);
  }
}

/** Small edits that keep most texts near the plain shape. */
function mutate(text: string, rng: Rng): string {
  const at = rng.int(0, text.length + 1);
  const bits = ['"', ",", ":", "}", "{", " ", "\\", "a", "\u0000", '"a":"b"'];
  switch (rng.int(0, 4)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + bits[rng.int(0, bits.length)] + text.slice(at);
    case 2:
      return text.slice(0, at) + bits[rng.int(0, bits.length)] + text.slice(at + 1);
    default:
      return text;
  }
}

test("differential: 4,000 generated texts apply the same through the reader as through JSON.parse alone", () => {
  const rng = new Rng(12);
  let plain = 0;
  let fallback = 0;
  for (let i = 0; i < 4000; i++) {
    const kv: Record<string, JsonValue> = {};
    const n = rng.int(0, 4);
    for (let j = 0; j < n; j++)
      kv[rng.int(0, 3) === 0 ? `k${j}` : piece(rng) || "k"] = rng.int(0, 3) === 0 ? value(rng) : piece(rng);
    let text = encodeCommand({ op: "set", kv });
    if (rng.int(0, 2) === 0) text = mutate(text, rng);
    const pairs = plainSetPairs(text);
    if (pairs === undefined) fallback++;
    else {
      plain++;
      // What the reader accepts is JSON that JSON.parse reads to the same writes.
      const p = JSON.parse(text) as { kv: Record<string, JsonValue> };
      assert.deepEqual(new Map(pairs), new Map(Object.entries(p.kv)), text);
      assert.equal(pairs.length, Object.keys(p.kv).length, text);
    }
    assert.deepEqual(applied(text), appliedByParse(text), text);
    assert.equal(isSetCommand(text), setByParse(text), text);
  }
  assert.ok(plain > 500, `plain texts exercised: ${plain}`);
  assert.ok(fallback > 500, `other texts exercised: ${fallback}`);
});
