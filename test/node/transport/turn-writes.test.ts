/** Socket writes coalesced per turn of the event loop (transport/turn-writes.ts). */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { flushTurnWrites, writeInTurn } from "../../../node/src/transport/turn-writes.ts";

/** A sink recording each write it is handed: one entry per underlying write, with its chunks. */
function sink(): { w: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      calls.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => String(c.chunk)));
      cb();
    },
  });
  return { w, calls };
}

const nextTurn = () => new Promise((r) => setImmediate(r));

test("writes of one turn, microtasks included, reach the socket as one write", async () => {
  const { w, calls } = sink();
  writeInTurn(w, "a");
  writeInTurn(w, "b");
  await Promise.resolve();
  writeInTurn(w, "c");
  assert.deepEqual(calls, [], "nothing leaves before the turn ends");
  await nextTurn();
  assert.deepEqual(calls, [["a", "b", "c"]]);
});

test("a later turn starts a new write; streams are corked independently", async () => {
  const one = sink();
  const two = sink();
  writeInTurn(one.w, "1");
  writeInTurn(two.w, "x");
  await nextTurn();
  writeInTurn(one.w, "2");
  writeInTurn(one.w, "3");
  await nextTurn();
  assert.deepEqual(one.calls, [["1"], ["2", "3"]]);
  assert.deepEqual(two.calls, [["x"]]);
});

test("a flush sends what is held at once, streams in the order first written; later writes wait for the turn's end", async () => {
  const seen: string[] = [];
  const one = sink();
  const two = sink();
  const log = (name: string, s: { w: Writable }) => {
    const write = s.w._writev?.bind(s.w);
    s.w._writev = (chunks, cb) => {
      seen.push(`${name}:${chunks.map((c) => String(c.chunk)).join("")}`);
      write?.(chunks, cb);
    };
  };
  log("one", one);
  log("two", two);
  writeInTurn(two.w, "x");
  writeInTurn(one.w, "1");
  writeInTurn(one.w, "2");
  writeInTurn(two.w, "y");
  flushTurnWrites();
  assert.deepEqual(seen, ["two:xy", "one:12"]);
  writeInTurn(one.w, "3");
  assert.deepEqual(one.calls, [["1", "2"]], "a write after the flush is held again");
  await nextTurn();
  assert.deepEqual(one.calls, [["1", "2"], ["3"]]);
  assert.deepEqual(two.calls, [["x", "y"]]);
  flushTurnWrites(); // nothing held: nothing happens
  assert.equal(one.calls.length + two.calls.length, 3);
});

test("ending the stream in the same turn still delivers every write, in order", async () => {
  const { w, calls } = sink();
  writeInTurn(w, "a");
  writeInTurn(w, "b");
  w.end();
  await once(w, "finish");
  assert.deepEqual(calls.flat(), ["a", "b"]);
});

test("over a real loopback connection every byte arrives in order", async (t) => {
  const server = createServer();
  const got: Buffer[] = [];
  const closed = new Promise<void>((resolve) =>
    server.on("connection", (s: Socket) => {
      s.on("data", (d: Buffer) => got.push(d));
      s.on("end", () => resolve());
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const c = connect(port, "127.0.0.1");
  await once(c, "connect");
  const sent: string[] = [];
  for (let turn = 0; turn < 20; turn++) {
    for (let k = 0; k < 50; k++) {
      const s = `${turn}.${k};`;
      sent.push(s);
      writeInTurn(c, k % 2 ? s : Buffer.from(s));
    }
    await nextTurn();
  }
  c.end();
  await closed;
  assert.equal(Buffer.concat(got).toString(), sent.join(""));
});
