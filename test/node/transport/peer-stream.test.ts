/**
 * The append lane as a stream between real servers on loopback: delivery in order, authentication once,
 * refusals with the HTTP lane's status, fallback to HTTP for a peer without streams, a stuck peer timed
 * out, and shutdown closing the streams.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { test } from "node:test";
import { silentLogger } from "../../../node/src/log.ts";
import type { Message } from "../../../node/src/raft/types.ts";
import { PeerStream, STREAM_PATH } from "../../../node/src/transport/peer-stream.ts";
import { createRaftApp, listenRaft, type RaftHandler } from "../../../node/src/transport/raft-server.ts";
import { RaftTransport, STREAM_INFLIGHT } from "../../../node/src/transport/raft-transport.ts";
import { ACK_EVERY, serveStreams } from "../../../node/src/transport/stream-server.ts";

const hb = (tick: number): Message => ({
  type: "heartbeat",
  from: "a",
  to: "b",
  term: 3,
  fromInc: "ia",
  commit: 0,
  tick,
});

async function raftPort(t: { after: (f: () => void) => void }, got: Message[], up = () => true) {
  const handler: RaftHandler = {
    deliver: (msgs) => {
      if (!up()) return false;
      got.push(...msgs);
      return true;
    },
    join: async () => ({ status: 200, body: {} }),
    info: () => ({
      id: "b",
      clusterId: "c",
      incarnation: "ib",
      initialized: true,
      state: "follower",
      term: 3,
      leader: null,
      voters: {},
      learners: {},
    }),
  };
  const app = createRaftApp({
    selfId: "b",
    secret: "s",
    clusterId: "c",
    maxBodyBytes: 1 << 16,
    logger: silentLogger,
    handler: () => handler,
  });
  const server = await listenRaft(app, "127.0.0.1", 0);
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  return { server, addr: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const headers = (secret: string) => ({
  authorization: `Bearer ${secret}`,
  "x-raftkv-cluster": "c",
  "x-raftkv-from": "a",
});
const batch = (...ms: Message[]) => JSON.stringify(ms);

test("batches on one stream arrive in order on one connection, each acknowledged", async (t) => {
  const got: Message[] = [];
  const { server, addr } = await raftPort(t, got);
  let connections = 0;
  server.on("upgrade", () => connections++);
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 2000 });
  t.after(() => s.close());
  const statuses = await Promise.all(Array.from({ length: 100 }, (_, i) => s.send(batch(hb(2 * i), hb(2 * i + 1)))));
  assert.deepEqual(new Set(statuses), new Set([204]));
  assert.deepEqual(
    got.map((m) => (m as { tick: number }).tick),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal(connections, 1, "one upgrade for all batches");
  assert.equal(s.inflight, 0);
});

test("a wrong secret is refused at the upgrade (401), and nothing is delivered", async (t) => {
  const got: Message[] = [];
  const { addr } = await raftPort(t, got);
  const s = new PeerStream({ resolve: () => addr, headers: headers("wrong"), timeoutMs: 2000 });
  t.after(() => s.close());
  assert.deepEqual(await Promise.all([s.send(batch(hb(1))), s.send(batch(hb(2)))]), [401, 401]);
  assert.equal(s.refusedWith, 401);
  assert.equal(got.length, 0);
});

test("a bad batch gets the HTTP lane's 400 and closes the stream; later batches go on a new one", async (t) => {
  const got: Message[] = [];
  const { server, addr } = await raftPort(t, got);
  let connections = 0;
  server.on("upgrade", () => connections++);
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 2000 });
  t.after(() => s.close());
  const r = await Promise.allSettled([s.send(batch(hb(1))), s.send(batch({ ...hb(2), to: "z" })), s.send("not json")]);
  assert.deepEqual(r[0], { status: "fulfilled", value: 204 });
  assert.deepEqual(r[1], { status: "fulfilled", value: 400 });
  assert.equal(r[2].status, "rejected", "sent after the refusal on the closed stream");
  assert.equal(await s.send(batch(hb(3))), 204);
  assert.deepEqual(
    got.map((m) => (m as { tick: number }).tick),
    [1, 3],
  );
  assert.equal(connections, 2);
  // A frame that is not JSON: 400 too.
  assert.equal(await s.send("{"), 400);
});

test("a node that is not running answers 503 on the stream, as on the HTTP lane", async (t) => {
  const got: Message[] = [];
  let up = false;
  const { addr } = await raftPort(t, got, () => up);
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 2000 });
  t.after(() => s.close());
  assert.equal(await s.send(batch(hb(1))), 503);
  up = true;
  assert.equal(await s.send(batch(hb(2))), 204);
  assert.equal(got.length, 1);
});

test("a peer without the stream endpoint (an older version: 404) gets its appends over HTTP", async (t) => {
  const posts: string[] = [];
  const old: Server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.url === STREAM_PATH) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"code":"NOT_FOUND","error":"no such route"}');
        return;
      }
      posts.push(`${req.url} ${body}`);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => old.listen(0, "127.0.0.1", r));
  t.after(() => {
    old.close();
    old.closeAllConnections();
  });
  const addr = `127.0.0.1:${(old.address() as AddressInfo).port}`;
  const tr = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "http://127.0.0.1:2" },
    secret: "s",
    clusterId: "c",
    resolve: () => addr,
    logger: silentLogger,
  });
  t.after(() => tr.close());
  tr.send([hb(1)]);
  await tr.drain(2000);
  assert.equal(posts.length, 0, "the first batch was refused with the upgrade (and is lost, as any failed batch)");
  await new Promise((r) => setTimeout(r, 120)); // past the lane's backoff
  tr.send([hb(2)]);
  await tr.drain(2000);
  assert.equal(posts.length, 1);
  assert.match(posts[0] as string, /^\/raft\/v1\/append \[.*"tick":2/);
});

test("a peer that takes the stream but never acknowledges is timed out, and the batch fails", async (t) => {
  const sockets: import("node:net").Socket[] = [];
  const silent = createTcpServer((sock) => {
    sockets.push(sock);
    sock.once("data", () =>
      sock.write("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: raftkv-append/1\r\n\r\n"),
    );
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const addr = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 300 });
  t.after(() => s.close());
  const t0 = performance.now();
  await assert.rejects(s.send(batch(hb(1))), /timed out/);
  const took = performance.now() - t0;
  assert.ok(took >= 300 && took < 2000, `failed after ${took} ms`);
});

test("closing the Raft port's connections ends its streams; the sender reconnects to the next server", async (t) => {
  const got: Message[] = [];
  const first = await raftPort(t, got);
  let addr = first.addr;
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 2000 });
  t.after(() => s.close());
  assert.equal(await s.send(batch(hb(1))), 204);
  const closed = new Promise<void>((r) => first.server.close(() => r()));
  first.server.closeAllConnections();
  await closed; // resolves only once no connection (upgraded ones included) is left
  const second = await raftPort(t, got);
  addr = second.addr;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await s.send(batch(hb(2))), 204);
  assert.deepEqual(
    got.map((m) => (m as { tick: number }).tick),
    [1, 2],
  );
});

/** A Raft port whose node answers forwarded proposals (after `delayMs`), counting the batches. */
async function proposingPort(t: { after: (f: () => void) => void }, delayMs: number, up = () => true) {
  const batches: string[][] = [];
  const handler: RaftHandler = {
    deliver: () => true,
    join: async () => ({ status: 200, body: {} }),
    info: () => ({
      id: "b",
      clusterId: "c",
      incarnation: "ib",
      initialized: true,
      state: "leader",
      term: 1,
      leader: null,
      voters: {},
      learners: {},
    }),
    propose: async (datas) => {
      batches.push(datas);
      await new Promise((r) => setTimeout(r, delayMs));
      return datas.map((d, i) => ({ index: i + 1, result: d }));
    },
  };
  const app = createRaftApp({
    selfId: "b",
    secret: "s",
    clusterId: "c",
    maxBodyBytes: 1 << 16,
    logger: silentLogger,
    handler: () => (up() ? handler : undefined),
  });
  const server = await listenRaft(app, "127.0.0.1", 0);
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  return { server, batches, addr: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const transportTo = (addr: string) =>
  new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "http://127.0.0.1:2" },
    secret: "s",
    clusterId: "c",
    resolve: (id) => (id === "b" ? addr : undefined),
    logger: silentLogger,
  });

test("forwarded proposals ride the stream: answers matched by id, no HTTP request", async (t) => {
  const { server, batches, addr } = await proposingPort(t, 5);
  let plainRequests = 0;
  server.on("request", (req) => {
    if (req.url === "/raft/v1/propose") plainRequests++;
  });
  const s = new PeerStream({ resolve: () => addr, headers: headers("s"), timeoutMs: 2000 });
  t.after(() => s.close());
  const [a, b] = await Promise.all([s.ask('["x","y"]', 2000), s.ask('["z"]', 2000)]);
  assert.deepEqual(a, {
    ok: true,
    answer: [
      { index: 1, result: "x" },
      { index: 2, result: "y" },
    ],
  });
  assert.deepEqual(b, { ok: true, answer: [{ index: 1, result: "z" }] });
  assert.deepEqual(await s.ask("[1]", 2000), {
    ok: false,
    status: 400,
    code: "BAD_BODY",
    error: "body must be a JSON array of strings",
  });
  assert.equal(batches.length, 2);
  assert.equal(plainRequests, 0);

  // Through the transport: 30 concurrent writes leave in a few batches and all come back in order.
  const tr = transportTo(addr);
  t.after(() => tr.close());
  const datas = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const answers = await Promise.all(datas.map((d) => tr.propose("b", d, 2000)));
  assert.deepEqual(
    answers.map((x) => ("result" in x ? x.result : x)),
    datas,
  );
  assert.equal(plainRequests, 0);
});

test("proposals on a stream: a stopped leader refuses them unsent; a lost connection leaves them in doubt", async (t) => {
  let up = false;
  const { server, addr } = await proposingPort(t, 300, () => up);
  const tr = transportTo(addr);
  t.after(() => tr.close());
  await assert.rejects(tr.propose("b", "x", 2000), (e: Error & { sent?: boolean }) => e.sent === false);
  up = true;
  const pending = tr.propose("b", "y", 5000);
  await new Promise((r) => setTimeout(r, 100));
  server.closeAllConnections(); // the stream drops while the leader is still proposing
  await assert.rejects(pending, (e: Error & { sent?: boolean }) => e.sent === true);
});

test("a leader without streams (an older version: 404) gets forwarded proposals over HTTP", async (t) => {
  const old: Server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.url !== "/raft/v1/propose") {
        res.writeHead(404, { "content-type": "application/json" }).end('{"code":"NOT_FOUND","error":"no such route"}');
        return;
      }
      const datas = JSON.parse(body) as string[];
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(datas.map((d, i) => ({ index: i + 1, result: d }))));
    });
  });
  await new Promise<void>((r) => old.listen(0, "127.0.0.1", r));
  t.after(() => {
    old.close();
    old.closeAllConnections();
  });
  const tr = transportTo(`127.0.0.1:${(old.address() as AddressInfo).port}`);
  t.after(() => tr.close());
  assert.deepEqual(await tr.propose("b", "x", 2000), { index: 1, result: "x" });
});

test("a full batch count is acknowledged at once, without the delay, and the sender's window holds several", async (t) => {
  // The stall this prevents: a window of 8 against acknowledgements every 16 made a sender of more than
  // 8 batches per ACK_DELAY_MS wait out the delay each time (follower reads at one client: p90 3.6 ms).
  assert.ok(STREAM_INFLIGHT >= 2 * ACK_EVERY, `window ${STREAM_INFLIGHT}, acknowledged every ${ACK_EVERY}`);
  const got: unknown[] = [];
  const server: Server = createHttpServer((_req, res) => res.writeHead(404).end());
  serveStreams(server, {
    secret: "s",
    clusterId: "c",
    maxBodyBytes: 1 << 16,
    deliver: (body) => {
      got.push(body);
      return undefined;
    },
    propose: async () => ({ answers: [] }),
    onRefused: () => {},
    ackDelayMs: 60_000, // only a full count can acknowledge within the test
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const s = new PeerStream({
    resolve: () => `127.0.0.1:${(server.address() as AddressInfo).port}`,
    headers: headers("s"),
    timeoutMs: 120_000,
  });
  t.after(() => {
    s.close();
    server.close();
    server.closeAllConnections();
  });
  const bounded = <T>(p: Promise<T>, ms: number) =>
    Promise.race([p, new Promise<"late">((r) => setTimeout(() => r("late"), ms).unref())]);
  const full = Promise.all(Array.from({ length: ACK_EVERY }, (_, i) => s.send(batch(hb(i)))));
  assert.deepEqual(await bounded(full, 5000), Array(ACK_EVERY).fill(204));
  assert.equal(got.length, ACK_EVERY);
  // One batch alone waits for the delay.
  const one = s.send(batch(hb(ACK_EVERY)));
  one.catch(() => {});
  assert.equal(await bounded(one, 200), "late");
  assert.equal(got.length, ACK_EVERY + 1, "delivered, not yet acknowledged");
});
