import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rfc3339 } from "../../../operator/src/plan/rfc3339.ts";
import { Prng } from "./prng.ts";

describe("rfc3339", () => {
  it("writes what Date#toISOString writes, over leap years and centuries", () => {
    const r = new Prng(7);
    const samples = [0, -1, 951_782_400_000, 4_107_542_399_999, 1_767_225_599_950];
    for (let i = 0; i < 5000; i++) samples.push(r.int(-2_000_000_000, 2_000_000_000) * 1000 + r.int(0, 999));
    for (const ms of samples) assert.equal(rfc3339(ms), new Date(ms).toISOString(), String(ms));
  });

  it("rejects what is not a time", () => {
    assert.throws(() => rfc3339(Number.NaN), /not a time/);
  });
});
