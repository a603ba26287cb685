/** Frames of the append stream: reassembled from any split, in order, and refused over the limit. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeFrame, FrameReader, FrameTooLarge } from "../../../node/src/transport/stream-frames.ts";

test("frames split at every byte boundary, or several in one chunk, come out whole and in order", () => {
  const texts = ["[]", '[{"a":"é"}]', "x".repeat(300), "", "[1,2,3]"];
  const wire = Buffer.concat(texts.map(encodeFrame));
  for (let cut = 0; cut <= wire.length; cut++) {
    const r = new FrameReader(1 << 10);
    const out = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))];
    assert.deepEqual(out, texts, `split at ${cut}`);
    assert.equal(r.buffered, 0);
  }
  // One byte at a time.
  const r = new FrameReader(1 << 10);
  const out: string[] = [];
  for (let i = 0; i < wire.length; i++) out.push(...r.push(wire.subarray(i, i + 1)));
  assert.deepEqual(out, texts);
});

test("a frame over the limit is refused from its header, before its bytes are held", () => {
  const r = new FrameReader(100);
  assert.deepEqual(r.push(encodeFrame("x".repeat(100))), ["x".repeat(100)]);
  const big = encodeFrame("y".repeat(101));
  assert.throws(() => r.push(big.subarray(0, 4)), FrameTooLarge);
  const r2 = new FrameReader(100);
  assert.deepEqual(r2.push(big.subarray(0, 2)), [], "half a header: nothing to judge yet");
  assert.throws(() => r2.push(big.subarray(2, 5)), /101 bytes is over the limit of 100/);
});
