/** The STATE_DIR free-space guard: threshold, hysteresis, off switch, failed measurements, waiting for room. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DiskGuard, freeBytes } from "../../../node/src/storage/disk-guard.ts";
import { tempDir } from "./helpers.ts";

/** A guard whose measurements come from `values` (a thrown Error where the value is an Error). */
function guard(minFreeBytes: number, values: Array<number | Error>) {
  const changes: Array<[boolean, number]> = [];
  const errors: string[] = [];
  let k = 0;
  const g = new DiskGuard({
    dir: "/nowhere",
    minFreeBytes,
    measure: async () => {
      const v = values[Math.min(k++, values.length - 1)] as number | Error;
      if (v instanceof Error) throw v;
      return v;
    },
    onChange: (low, free) => changes.push([low, free]),
    onError: (e) => errors.push(e.message),
  });
  return { g, changes, errors };
}

test("low below the reserve; back only at the reserve plus a sixteenth", async () => {
  const { g, changes } = guard(1600, [5000, 1599, 1600, 1699, 1700, 1599]);
  assert.equal(g.low, false);
  assert.equal(g.free, undefined);
  assert.equal(await g.check(), false);
  assert.equal(g.free, 5000);
  assert.equal(await g.check(), true, "1599 < 1600");
  assert.equal(await g.check(), true, "1600 is not enough to recover");
  assert.equal(await g.check(), true, "1699 is not enough either");
  assert.equal(g.recoverAt, 1700);
  assert.equal(await g.check(), false, "1700 recovers");
  assert.equal(await g.check(), true);
  assert.deepEqual(changes, [
    [true, 1599],
    [false, 1700],
    [true, 1599],
  ]);
});

test("MIN_FREE_BYTES=0 never reports low, even with nothing free", async () => {
  const { g, changes } = guard(0, [0]);
  assert.equal(await g.check(), false);
  assert.equal(g.free, 0);
  assert.deepEqual(changes, []);
});

test("a failed measurement keeps the state and is reported once until one succeeds", async () => {
  const { g, errors } = guard(100, [50, new Error("gone"), new Error("gone"), 500, new Error("again")]);
  assert.equal(await g.check(), true);
  assert.equal(await g.check(), true);
  assert.equal(await g.check(), true);
  assert.deepEqual(errors, ["gone"]);
  assert.equal(await g.check(), false);
  assert.equal(await g.check(), false);
  assert.deepEqual(errors, ["gone", "again"]);
});

test("concurrent checks share one measurement", async () => {
  let calls = 0;
  const g = new DiskGuard({
    dir: "/x",
    minFreeBytes: 10,
    measure: async () => {
      calls++;
      return 5;
    },
  });
  assert.deepEqual(await Promise.all([g.check(), g.check(), g.check()]), [true, true, true]);
  assert.equal(calls, 1);
});

test("waitForFree resolves once enough is free, and false when aborted", async () => {
  const { g } = guard(100, [10, 20, 5000]);
  assert.equal(await g.waitForFree(1000, 5, AbortSignal.timeout(5000)), true);
  assert.equal(g.free, 5000);
  const never = guard(100, [10]).g;
  assert.equal(await never.waitForFree(1000, 5, AbortSignal.timeout(50)), false);
});

test("freeBytes measures a real directory; start() polls and stop() ends it", async (t) => {
  const dir = tempDir(t);
  const free = await freeBytes(dir);
  assert.ok(Number.isSafeInteger(free) && free > 0, `free ${free}`);
  // A STATE_DIR not created yet is measured on its nearest existing ancestor.
  assert.ok((await freeBytes(`${dir}/not/yet/made`)) > 0);
  const seen: number[] = [];
  const g = new DiskGuard({ dir, minFreeBytes: 1, pollMs: 5, onMeasure: (f) => seen.push(f) });
  g.start();
  await new Promise((r) => setTimeout(r, 60));
  g.stop();
  const n = seen.length;
  assert.ok(n >= 3, `${n} measurements in 60 ms`);
  assert.equal(g.low, false);
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(seen.length <= n + 1, "no polling after stop()");
});
