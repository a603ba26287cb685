/** The Raft port in process: authentication before parsing, validation per lane, delivery to the handler. */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { silentLogger } from "../../../node/src/log.ts";
import type { Message } from "../../../node/src/raft/types.ts";
import { createRaftApp, listenRaft, type RaftHandler } from "../../../node/src/transport/raft-server.ts";
import { RaftTransport } from "../../../node/src/transport/raft-transport.ts";

test("messages reach the handler only with the secret and cluster id, and only when well formed", async (t) => {
  const got: Message[] = [];
  const handler: RaftHandler = {
    deliver: (msgs) => {
      got.push(...msgs);
      return true;
    },
    join: async (req) => ({ status: 200, body: { ok: true, id: req.id } }),
    info: () => ({
      id: "b",
      clusterId: "c",
      incarnation: "ib",
      initialized: false,
      state: "follower",
      term: 0,
      leader: null,
      voters: {},
      learners: {},
    }),
  };
  const app = createRaftApp({
    selfId: "b",
    secret: "s",
    clusterId: "c",
    maxBodyBytes: 1 << 20,
    logger: silentLogger,
    handler: () => handler,
  });
  const server = await listenRaft(app, "127.0.0.1", 0);
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  const addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hb: Message = { type: "heartbeat", from: "a", to: "b", term: 3, fromInc: "ia", commit: 0, tick: 1 };

  const post = async (path: string, body: unknown, headers: Record<string, string>) => {
    const r = await fetch(`http://${addr}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    await r.arrayBuffer();
    return r.status;
  };
  assert.equal(await post("/raft/v1/append", [hb], {}), 401);
  assert.equal(await post("/raft/v1/append", [hb], { authorization: "Bearer s", "x-raftkv-cluster": "d" }), 403);
  const ok = { authorization: "Bearer s", "x-raftkv-cluster": "c" };
  assert.equal(await post("/raft/v1/vote", [hb], ok), 400, "a heartbeat does not belong on the vote lane");
  assert.equal(await post("/raft/v1/append", [{ ...hb, to: "z" }], ok), 400, "addressed to someone else");
  assert.equal(await post("/raft/v1/append", { not: "an array" }, ok), 400);
  assert.equal(got.length, 0, "nothing was delivered so far");
  assert.equal(await post("/raft/v1/append", [hb, { ...hb, tick: 2 }], ok), 204);
  assert.equal(got.length, 2);

  // The client side: a transport with the same credentials gets through, batching both messages.
  const tr = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "http://127.0.0.1:2" },
    secret: "s",
    clusterId: "c",
    resolve: () => addr,
    logger: silentLogger,
  });
  t.after(() => tr.close());
  tr.send([
    { ...hb, tick: 3 },
    { type: "timeoutNow", from: "a", to: "b", term: 3, fromInc: "ia" },
  ]);
  await tr.drain(2000);
  assert.equal(got.length, 4);
  assert.equal((await tr.info(addr)).body?.incarnation, "ib");
  const j = await tr.join(addr, {
    id: "a",
    incarnation: "ia",
    raftAddr: "127.0.0.1:1",
    httpUrl: "http://x",
    voter: true,
    mode: "join",
  });
  assert.deepEqual(j, { status: 200, body: { ok: true, id: "a" } });
});

test("forwarded writes: POST /raft/v1/propose answers each in order, batches concurrent ones, refuses bad input", async (t) => {
  const batches: string[][] = [];
  let running = true;
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
      await new Promise((r) => setTimeout(r, 20));
      return datas.map((d, i) =>
        d === "refuse" ? { code: "NOT_LEADER", error: "moved" } : { index: i + 1, result: d },
      );
    },
  };
  const app = createRaftApp({
    selfId: "b",
    secret: "s",
    clusterId: "c",
    maxBodyBytes: 1 << 20,
    logger: silentLogger,
    handler: () => (running ? handler : undefined),
  });
  const server = await listenRaft(app, "127.0.0.1", 0);
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  const addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tr = new RaftTransport({
    self: { id: "a", raftAddr: "127.0.0.1:1", httpUrl: "http://127.0.0.1:2" },
    secret: "s",
    clusterId: "c",
    resolve: (id) => (id === "b" ? addr : undefined),
    logger: silentLogger,
  });
  t.after(() => tr.close());
  const datas = Array.from({ length: 40 }, (_, i) => `w${i}`);
  const answers = await Promise.all([...datas, "refuse"].map((d) => tr.propose("b", d, 5000)));
  assert.deepEqual(answers.at(-1), { code: "NOT_LEADER", error: "moved" });
  assert.deepEqual(
    answers.slice(0, 40).map((a) => ("result" in a ? a.result : a)),
    datas,
  );
  // Forwarded in one turn of the event loop: one request carries them all.
  assert.deepEqual(
    batches.map((b) => b.length),
    [41],
  );

  const post = async (body: string, headers: Record<string, string>) => {
    const r = await fetch(`http://${addr}/raft/v1/propose`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    return { status: r.status, body: (await r.json()) as { code?: string } };
  };
  const ok = { authorization: "Bearer s", "x-raftkv-cluster": "c" };
  assert.equal((await post('["x"]', {})).status, 401);
  assert.deepEqual((await post("[1]", ok)).body.code, "BAD_BODY");
  assert.deepEqual((await post("[nope", ok)).body.code, "BAD_JSON");
  running = false;
  assert.deepEqual(await post('["x"]', ok), {
    status: 503,
    body: { code: "NOT_READY", error: "node is not running yet" },
  });
  // A leader nobody can reach: never sent.
  await assert.rejects(tr.propose("z", "x", 1000), (e: Error & { sent?: boolean }) => e.sent === false);
});
