/**
 * The raw front (node/src/api/raw-front.ts) on a real client server (createClientServer with the app's
 * hot routes, over a FakeNode): which connections it serves and which it hands to node:http, and that a
 * hand-over loses no byte and keeps answers in order; keep-alive, Connection: close, a client's FIN,
 * idle and silent connections, and closing the server. That its answers equal express's byte for byte
 * is lean-path.test.ts's ("front and express answer alike ...").
 */

import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { createApiApp, hotRoutesOf } from "../../../node/src/api/app.ts";
import { createClientServer } from "../../../node/src/api/client-server.ts";
import { FakeNode } from "./fake-node.ts";

const T = { timeout: 20_000 };

interface Front {
  server: Server;
  port: number;
  node: FakeNode;
  handOvers: string[];
}

async function start(t: TestContext, o: { headersTimeoutMs?: number; keepAliveMs?: number } = {}): Promise<Front> {
  const node = new FakeNode("n1");
  const app = createApiApp(node, { maxBodyBytes: 4096, logger: { warn() {}, error() {} } });
  const routes = hotRoutesOf(app);
  assert.ok(routes);
  const handOvers: string[] = [];
  const server = createClientServer(app, {
    headersTimeoutMs: o.headersTimeoutMs ?? 15_000,
    front: { routes, maxBodyBytes: 4096, onHandOver: (why) => handOvers.push(why) },
  });
  if (o.keepAliveMs !== undefined) server.keepAliveTimeout = o.keepAliveMs;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, node, handOvers };
}

/** A connection that collects what comes back. */
class Client {
  readonly sock: Socket;
  text = "";
  closed = false;
  constructor(port: number) {
    this.sock = connect(port, "127.0.0.1");
    this.sock.on("data", (d) => {
      this.text += d.toString("latin1");
    });
    this.sock.on("close", () => {
      this.closed = true;
    });
    this.sock.on("error", () => {});
  }

  send(s: string): Promise<void> {
    return new Promise((r) => this.sock.write(s, () => r()));
  }

  /** Waits until `n` answers (status lines) arrived, or the connection closed, or `ms` passed. */
  async answers(n: number, ms = 3000): Promise<string[]> {
    const end = performance.now() + ms;
    while (this.count() < n && !this.closed && performance.now() < end) await sleep(5);
    return this.text.split(/(?=HTTP\/1\.1 \d{3} )/).filter((s) => s.length > 0);
  }

  count(): number {
    return (this.text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
  }

  /** Waits for the close (false if it did not come within `ms`). */
  async waitClosed(ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    while (!this.closed && performance.now() < end) await sleep(10);
    return this.closed;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (key: string, extra = "") => `GET /key/${key} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
const post = (body: string, extra = "") =>
  `POST /key HTTP/1.1\r\nHost: h\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test("plain hot requests are served by the front, keep-alive, in order when pipelined", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  await c.send(post('{"a":"1"}'));
  await c.send(get("a"));
  await c.send(post('{"b":2}') + get("b") + get("a?consistency=stale") + get("never"));
  const a = await c.answers(6);
  assert.equal(a.length, 6, c.text);
  assert.match(
    a[0] ?? "",
    /^HTTP\/1\.1 200 OK\r\nX-Raftkv-Node: n1\r\n[\s\S]*Connection: keep-alive\r\n[\s\S]*\{"index":1\}$/,
  );
  assert.match(a[1] ?? "", /\{"a":"1"\}$/);
  assert.match(a[2] ?? "", /\{"index":2\}$/);
  assert.match(a[3] ?? "", /\{"b":2\}$/);
  assert.match(a[4] ?? "", /\{"a":"1"\}$/);
  assert.match(a[5] ?? "", /\{"never":null\}$/);
  assert.deepEqual(f.handOvers, [], "nothing went to node:http");
  assert.equal(c.closed, false);
  c.sock.destroy();
});

test("a request split over two writes goes to node:http with every byte, and is answered", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  const r = post('{"split":"yes"}');
  await c.send(r.slice(0, 20));
  await sleep(50);
  await c.send(r.slice(20));
  // node:http runs pipelined requests' handlers side by side: ask after the answer.
  await c.answers(1);
  await c.send(get("split"));
  const a = await c.answers(2);
  assert.match(a[0] ?? "", /^HTTP\/1\.1 200 OK[\s\S]*\{"index":1\}$/, c.text);
  assert.match(a[1] ?? "", /\{"split":"yes"\}$/, c.text);
  assert.deepEqual(f.handOvers, ["shape"]);
  c.sock.destroy();
});

test("served, then a request of another shape pipelined behind it: both answered in order", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  // The first is the front's; the second (another route) and the third (hot, but after the hand-over) are node:http's.
  await c.send(`${post('{"p":1}')}GET /status HTTP/1.1\r\nHost: h\r\n\r\n${get("p")}`);
  const a = await c.answers(3);
  assert.equal(a.length, 3, c.text);
  assert.match(a[0] ?? "", /\{"index":1\}$/);
  assert.match(a[1] ?? "", /"state":"leader"/);
  assert.match(a[2] ?? "", /\{"p":1\}$/);
  assert.deepEqual(f.handOvers, ["shape"]);
  c.sock.destroy();
});

test("Connection: close and a client's FIN end the connection after the answer", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  await c.send(get("x", "Connection: close\r\n") + get("ignored"));
  assert.equal(await c.waitClosed(3000), true, "closed after the answer");
  assert.equal(c.count(), 1, c.text);
  assert.match(c.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n\r\n\{"x":null\}$/);

  const d = new Client(f.port);
  await d.send(post('{"fin":1}'));
  d.sock.end(); // half-close: the answer still comes, then the server ends too
  assert.equal(await d.waitClosed(3000), true);
  assert.match(d.text, /^HTTP\/1\.1 200 OK[\s\S]*\{"index":1\}$/);
  assert.deepEqual(f.handOvers, []);
});

test("an error answer before the body was read closes the connection, as node:http does", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  await c.send(`POST /key?bogus HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{"a":1}${get("after")}`);
  assert.equal(await c.waitClosed(3000), true);
  assert.match(c.text, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n[\s\S]*"code":"BAD_PARAM"/);
  assert.equal(c.count(), 1);
  // A bad body that was read keeps the connection.
  const d = new Client(f.port);
  await d.send(post("{") + get("after"));
  const a = await d.answers(2);
  assert.match(a[0] ?? "", /^HTTP\/1\.1 400 [\s\S]*Connection: keep-alive[\s\S]*"code":"BAD_JSON"/);
  assert.match(a[1] ?? "", /\{"after":null\}$/);
  d.sock.destroy();
});

test("bytes node:http refuses get its JSON error after the hand-over", T, async (t) => {
  const f = await start(t);
  for (const raw of ["GET /key/a HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", "\u0000\u0001garbage\r\n\r\n"]) {
    const c = new Client(f.port);
    await c.send(raw);
    assert.equal(await c.waitClosed(3000), true);
    assert.match(c.text, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"code":"BAD_REQUEST"/, JSON.stringify(raw));
  }
  assert.deepEqual(f.handOvers, ["shape", "shape"]);
});

test("idle connections close after the keep-alive timeout; silent new ones get node:http's 408", T, async (t) => {
  const f = await start(t, { keepAliveMs: 1000, headersTimeoutMs: 1000 });
  const idle = new Client(f.port);
  await idle.send(get("k"));
  await idle.answers(1);
  const silent = new Client(f.port);
  const started = performance.now();
  assert.equal(await idle.waitClosed(4000), true, "the idle connection was closed");
  assert.equal(await silent.waitClosed(6000), true, "the silent connection was closed");
  assert.ok(performance.now() - started < 6000);
  assert.match(silent.text, /^HTTP\/1\.1 408 [\s\S]*"code":"REQUEST_TIMEOUT"/, silent.text);
  assert.deepEqual(f.handOvers, ["timeout"]);
});

test("closeIdleConnections and close() cover the front's connections", T, async (t) => {
  const f = await start(t);
  const c = new Client(f.port);
  await c.send(get("k"));
  await c.answers(1);
  const closed = new Promise<void>((r) => f.server.close(() => r()));
  assert.equal(await c.waitClosed(2000), true, "server.close() closed the idle front connection");
  await closed;
});
