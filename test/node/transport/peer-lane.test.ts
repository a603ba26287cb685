/** Per-peer lanes: batching, the in-flight bound, dropping the oldest, and backoff after failures. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../../node/src/raft/types.ts";
import { PeerLane } from "../../../node/src/transport/peer-lane.ts";

const msg = (i: number): Message => ({ type: "app", from: "a", to: "b", term: 1, fromInc: "x", index: i });
const limits = { maxInflight: 2, maxQueue: 100, maxBatchBytes: 1 << 20, maxBatchMessages: 512 };
const hooks = () => {
  const h = { dropped: 0, failed: 0, ok: 0 };
  return {
    h,
    hooks: {
      dropped: (n: number) => {
        h.dropped += n;
      },
      failed: () => void h.failed++,
      succeeded: () => void h.ok++,
    },
  };
};

test("at most maxInflight requests are outstanding and queued messages leave as one batch", async () => {
  const sent: Message[][] = [];
  const release: Array<() => void> = [];
  const { hooks: hk } = hooks();
  const lane = new PeerLane(
    limits,
    (body) => {
      sent.push(JSON.parse(body) as Message[]);
      return new Promise((r) => release.push(() => r(204)));
    },
    hk,
  );
  lane.push([msg(1)]);
  lane.push([msg(2)]);
  lane.push([msg(3)]);
  lane.push([msg(4), msg(5)]);
  assert.equal(lane.inflight, 2);
  assert.deepEqual(
    sent.map((b) => b.map((m) => m.index)),
    [[1], [2]],
  );
  release.shift()?.();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    sent[2]?.map((m) => m.index),
    [3, 4, 5],
    "everything queued goes in the next request",
  );
  for (const f of release.splice(0)) f();
  await lane.drain(1000);
  assert.equal(lane.queued, 0);
});

test("beyond maxQueue the oldest messages are dropped", () => {
  const { h, hooks: hk } = hooks();
  const lane = new PeerLane({ ...limits, maxInflight: 1, maxQueue: 3 }, () => new Promise(() => {}), hk);
  lane.push([msg(1)]); // in flight
  lane.push([msg(2), msg(3), msg(4), msg(5), msg(6)]);
  assert.equal(lane.queued, 3);
  assert.equal(h.dropped, 2);
  lane.close();
});

test("a failed request backs off before the next attempt", async () => {
  let calls = 0;
  const { h, hooks: hk } = hooks();
  const lane = new PeerLane(
    { ...limits, maxInflight: 1 },
    async () => {
      calls++;
      throw new Error("ECONNREFUSED");
    },
    hk,
  );
  lane.push([msg(1)]);
  await new Promise((r) => setImmediate(r));
  lane.push([msg(2)]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(calls, 1, "no retry within the backoff");
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(calls, 2);
  assert.ok(h.failed >= 1);
  lane.close();
});
