/** The snapshot text (kv/snapshot-format.ts): the writer's pieces join to exactly JSON.stringify's output. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsonValue } from "../../../node/src/kv/command.ts";
import { decodeSnapshot, SnapshotWriter } from "../../../node/src/kv/snapshot-format.ts";

test("pairs joined in pieces give the same text as one JSON.stringify, at every size around a piece", () => {
  for (const n of [0, 1, 999, 1000, 1001, 2500, 3000]) {
    const pairs: Array<[string, JsonValue]> = [];
    for (let i = 0; i < n; i++)
      pairs.push([`k${String(i).padStart(5, "0")}`, i % 3 ? { i, s: "é😀" } : [i, null, "x"]]);
    const a = new SnapshotWriter();
    const b = new SnapshotWriter();
    for (const [k, v] of pairs) {
      a.add(k, v);
      b.addJson(k, JSON.stringify(v));
    }
    const expected = JSON.stringify({ v: 1, kv: pairs });
    assert.equal(a.finish(), expected, `${n} pairs via add`);
    assert.equal(b.finish(), expected, `${n} pairs via addJson`);
    assert.deepEqual(
      decodeSnapshot(expected).map((p) => p.key),
      pairs.map(([k]) => k),
    );
  }
});
