/** POST /key bodies: the plain reader gives the writes, and the errors, that JSON.parse alone gave. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseJsonObject } from "../../../node/src/api/body.ts";
import { ApiFailure } from "../../../node/src/api/failure.ts";
import { parseWrites } from "../../../node/src/api/kv-writes.ts";
import { type JsonValue, keyProblem, parseCommand } from "../../../node/src/kv/command.ts";
import { encodeSetPairs, readPlainPairs } from "../../../node/src/kv/set-pairs.ts";
import { Rng } from "../../../node/src/raft/rng.ts";

/** parseWrites as it was before the plain reader (JSON.parse, then every key and value checked). */
function byParse(raw: Buffer): Record<string, JsonValue> {
  const kv = parseJsonObject(raw, "the body of POST /key");
  for (const [k, v] of Object.entries(kv)) {
    const problem = keyProblem(k);
    if (problem) throw new ApiFailure("BAD_KEY", `${JSON.stringify(k.slice(0, 64))}: ${problem}`);
    if (v === null) throw new ApiFailure("BAD_BODY", `the value of ${JSON.stringify(k)} is null; delete the key`);
  }
  return kv as Record<string, JsonValue>;
}

type Outcome = { writes: Map<string, JsonValue>; n: number } | { code: string; error: string };

function outcome(f: () => Array<[string, JsonValue]> | Record<string, JsonValue>): Outcome {
  try {
    const r = f();
    const pairs = Array.isArray(r) ? r : Object.entries(r);
    return { writes: new Map(pairs), n: pairs.length };
  } catch (e) {
    assert.ok(e instanceof ApiFailure, String(e));
    return { code: e.code, error: e.message };
  }
}

function same(raw: Buffer): Outcome {
  const got = outcome(() => parseWrites(raw));
  assert.deepEqual(
    got,
    outcome(() => byParse(raw)),
    raw.toString("latin1"),
  );
  // What is proposed reads back, through the command parser every member runs, as the same writes.
  if ("writes" in got) {
    const c = parseCommand(encodeSetPairs([...got.writes]));
    assert.ok(c.ok && c.value.op === "set");
    assert.deepEqual(new Map(Object.entries(c.value.kv)), got.writes);
  }
  return got;
}

test("plain and other bodies give the same writes and the same errors", () => {
  for (const body of [
    '{"a":"1"}',
    '{"a":"1","b/c":"☃"}',
    "{}",
    '{"a":"1","a":"2"}',
    '{ "a": "1" }\n',
    '{"a":1,"b":[true]}',
    '{"a":null}',
    '{"":"x"}',
    `{"${"k".repeat(1025)}":"x"}`,
    '{"\\ud800":"x"}',
    '{"__proto__":"x"}',
    '{"2":"n","a":"1","1":"m"}',
    '{"a":"1"',
    '["a"]',
    "",
    '\ufeff{"a":"1"}',
    '{"a":"\u0001"}',
  ]) {
    same(Buffer.from(body));
  }
  same(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])); // not UTF-8
});

test("differential: 3,000 generated bodies", () => {
  const rng = new Rng(7);
  const parts = ["a", "k/1", "é", "😀", '"', "\\", "\n", " ", "0", "__proto__", "", "x".repeat(30), ":", ",", "}"];
  const str = () => {
    let s = "";
    for (let n = rng.int(0, 4); n > 0; n--) s += rng.pick(parts);
    return s;
  };
  let ok = 0;
  let refused = 0;
  let plain = 0;
  for (let i = 0; i < 3000; i++) {
    const pairs: string[] = [];
    for (let n = rng.int(0, 4); n > 0; n--) {
      const v = rng.chance(0.8) ? JSON.stringify(str()) : rng.pick(["1", "null", "[1]", '{"x":"y"}', "1e999"]);
      pairs.push(`${JSON.stringify(rng.chance(0.2) ? "k" : str())}:${v}`);
    }
    let body = `{${pairs.join(",")}}`;
    if (rng.chance(0.3)) {
      const at = rng.int(0, body.length + 1);
      body =
        body.slice(0, at) + rng.pick(['"', ",", " ", "\\", "}", "\u0000"]) + body.slice(at + (rng.chance(0.5) ? 1 : 0));
    }
    if (readPlainPairs(body, 0)?.end === body.length) plain++;
    if ("writes" in same(Buffer.from(body))) ok++;
    else refused++;
  }
  assert.ok(ok > 500 && refused > 300 && plain > 500, `accepted ${ok} (${plain} plain), refused ${refused}`);
});
