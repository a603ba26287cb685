/**
 * Regression tests, in process and fast, for the bugs the hostile tests found:
 * - the API stored numbers too large for a double (1e999) as null, so a cas
 *   with `expect: 1e999` matched an absent key;
 * - query values with a bad escape (`?after=%FF`) silently became U+FFFD;
 * - a body trickled byte by byte held its request for Node's 5-minute limit;
 * - an authenticated Raft message with a gap in its entries, a garbage config
 *   entry or snapshot, or terms above its own stopped the receiving node
 *   (the core throws on a gap; a bad snapshot was persisted, then failed to
 *   restore at every start);
 * - a 415 from the Raft port's body parser was labelled INTERNAL.
 */

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { silentLogger } from "../../node/src/log.ts";
import type { Message } from "../../node/src/raft/types.ts";
import { wrapSnapshot } from "../../node/src/server/snapshot-envelope.ts";
import { messageProblem, SNAPSHOT_MAGIC } from "../../node/src/transport/protocol.ts";
import { createRaftApp, listenRaft } from "../../node/src/transport/raft-server.ts";
import { startApp } from "../node/api/fake-node.ts";
import { call } from "../node/api/helpers.ts";
import { encodeRequest, rawSend } from "./raw-http.ts";

test("numbers too large for a double are refused, not stored as null", async (t) => {
  const a = await startApp("n1");
  t.after(() => a.close());
  for (const body of ['{"k":1e999}', '{"k":{"d":[1,-1e400]}}']) {
    const r = await call(a.url, "POST", "/key", body);
    assert.equal(r.status, 400, body);
    assert.equal((r.body as { code: string }).code, "BAD_BODY");
  }
  // Before the fix, expect: 1e999 became null ("absent") and this cas succeeded.
  const cas = await call(a.url, "POST", "/cas/absent", '{"expect":1e999,"value":1}');
  assert.equal(cas.status, 400);
  assert.equal(await a.node.kv.get("absent"), undefined);
  assert.deepEqual(a.node.calls, []);
  // Large but finite numbers are fine.
  assert.equal((await call(a.url, "POST", "/key", '{"k":1e308}')).status, 200);
});

test("query values with bad percent-encoding are refused, valid ones decoded as before", async (t) => {
  const a = await startApp("n1");
  t.after(() => a.close());
  for (const q of ["after=%FF", "prefix=%ED%A0%80", "after=%", "prefix=%E2%82", "consistency=st%ale", "%FF=1"]) {
    const r = await call(a.url, "GET", `/keys?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal((r.body as { code: string }).code, "BAD_PARAM", q);
  }
  await call(a.url, "POST", "/key", { "a b": 1, "🦄x": 2 });
  assert.deepEqual((await call(a.url, "GET", "/keys?prefix=a+b")).body, { keys: [{ key: "a b", value: 1 }] });
  assert.deepEqual((await call(a.url, "GET", `/keys?prefix=${encodeURIComponent("🦄")}`)).body, {
    keys: [{ key: "🦄x", value: 2 }],
  });
});

test("a body that does not arrive in time gets 400 BAD_BODY and a closed connection", async (t) => {
  const a = await startApp("n1", { bodyTimeoutMs: 300 });
  t.after(() => a.close());
  const port = Number(new URL(a.url).port);
  const head = Buffer.from('POST /key HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"slow":');
  const slow = rawSend(port, [head, ...Array.from({ length: 30 }, () => Buffer.from(" "))], {
    gapMs: 100,
    timeoutMs: 5000,
  });
  // Others are served meanwhile.
  assert.equal((await call(a.url, "GET", "/livez")).status, 200);
  const r = await slow;
  assert.equal(r.status, 400);
  assert.equal((r.json as { code: string }).code, "BAD_BODY");
  assert.equal(r.headers.connection, "close");
  assert.ok(r.ms < 2000, `took ${r.ms} ms`);
  assert.deepEqual(a.node.calls, []);
  // A body that arrives in time is unaffected.
  const ok = await rawSend(port, encodeRequest({ method: "POST", target: "/key", body: '{"fast":1}' }));
  assert.equal(ok.status, 200);
});

const base = { from: "a", to: "b", fromInc: "ia", term: 5 } as const;
const entry = (index: number, term: number, type = "normal", data = "{}") => ({ index, term, type, data });
const app = (index: number, logTerm: number, entries: unknown[], extra: object = {}) => ({
  ...base,
  type: "app",
  index,
  logTerm,
  entries,
  commit: 0,
  ...extra,
});
const snap = (extra: object = {}) => ({
  ...base,
  type: "snap",
  snapshot: { index: 10, term: 4, config: { voters: { a: "ia", b: "ib" }, learners: {} } },
  offset: 0,
  chunk: wrapSnapshot({ book: {}, kv: "" }),
  done: true,
  ...extra,
});
const config = JSON.stringify({ voters: { a: "ia" }, learners: { b: "ib" } });

test("Raft messages a correct peer sends pass the transport's checks", () => {
  const ok: Array<[unknown, "append" | "snapshot" | "vote"]> = [
    [app(7, 3, [entry(8, 3), entry(9, 5, "config", config), entry(10, 5, "noop", "")]), "append"],
    [app(0, 0, []), "append"],
    [app(7, 3, []), "append"],
    [snap(), "snapshot"],
    [snap({ offset: 0, chunk: SNAPSHOT_MAGIC.slice(0, 4), done: false }), "snapshot"],
    [snap({ offset: 100, chunk: "anything", done: false }), "snapshot"],
    [{ ...base, type: "appResp", index: 9, reject: true, rejectHint: 3, hintTerm: 2 }, "append"],
    [{ ...base, type: "snapResp", snapshot: { index: 10, term: 4, config: { voters: {}, learners: {} } } }, "snapshot"],
    [{ ...base, type: "vote", index: 9, logTerm: 5, force: true }, "vote"],
  ];
  for (const [m, lane] of ok) assert.equal(messageProblem(m, lane, "b"), undefined, JSON.stringify(m));
  // The magic the transport checks is the one the server writes.
  assert.ok(
    wrapSnapshot({ book: { a: { raftAddr: "x:1", httpUrl: "http://x", voter: true } }, kv: "z" }).startsWith(
      SNAPSHOT_MAGIC,
    ),
  );
});

test("Raft messages that would stop the node are refused by the transport", () => {
  const bad: Array<[string, unknown, "append" | "snapshot" | "vote"]> = [
    ["gap after index", app(7, 3, [entry(30, 5)]), "append"],
    ["entries out of order", app(7, 3, [entry(8, 5), entry(10, 5)]), "append"],
    ["entry before index", app(7, 3, [entry(7, 5)]), "append"],
    ["entry term above the message", app(7, 3, [entry(8, 6)]), "append"],
    ["entry term below logTerm", app(7, 3, [entry(8, 2)]), "append"],
    ["decreasing entry terms", app(7, 3, [entry(8, 5), entry(9, 4)]), "append"],
    ["entry term 0", app(0, 0, [entry(1, 0)]), "append"],
    ["logTerm above the message", app(7, 6, []), "append"],
    ["append without index", { ...app(7, 3, []), index: undefined }, "append"],
    ["config entry not JSON", app(7, 3, [entry(8, 5, "config", "garbage")]), "append"],
    ["config entry with no voter", app(7, 3, [entry(8, 5, "config", '{"voters":{},"learners":{}}')]), "append"],
    [
      "config entry with bad incarnation",
      app(7, 3, [entry(8, 5, "config", '{"voters":{"a":1},"learners":{}}')]),
      "append",
    ],
    ["entries on a heartbeat", { ...base, type: "heartbeat", entries: [] }, "append"],
    ["snapshot data of another format", snap({ chunk: "garbage" }), "snapshot"],
    ["snapshot data of another version", snap({ chunk: "raftkv-snap/2\n{}\n" }), "snapshot"],
    [
      "snapshot term above the message",
      snap({ snapshot: { index: 10, term: 6, config: { voters: { a: "x" }, learners: {} } } }),
      "snapshot",
    ],
    [
      "snapshot with no voter",
      snap({ snapshot: { index: 10, term: 4, config: { voters: {}, learners: {} } } }),
      "snapshot",
    ],
    [
      "snapshot with bad incarnation",
      snap({ snapshot: { index: 10, term: 4, config: { voters: { a: 7 }, learners: {} } } }),
      "snapshot",
    ],
    ["snap without data", snap({ chunk: undefined }), "snapshot"],
    ["done not a boolean", snap({ done: "yes" }), "snapshot"],
    ["reject not a boolean", { ...base, type: "appResp", index: 1, reject: 1 }, "append"],
    ["force not a boolean", { ...base, type: "vote", index: 1, logTerm: 1, force: "true" }, "vote"],
  ];
  for (const [what, m, lane] of bad) assert.ok(messageProblem(m, lane, "b"), `${what} was accepted`);
});

test("the Raft port: 415 is BAD_BODY, not INTERNAL; a declared oversize body is refused at once", async (t) => {
  const got: Message[] = [];
  const server = await listenRaft(
    createRaftApp({
      selfId: "b",
      secret: "s",
      clusterId: "c",
      maxBodyBytes: 1 << 20,
      logger: silentLogger,
      handler: () => ({
        deliver: (msgs) => {
          got.push(...msgs);
          return true;
        },
        join: async () => ({ status: 200, body: {} }),
        info: () => {
          throw new Error("unused");
        },
      }),
    }),
    "127.0.0.1",
    0,
  );
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  const port = (server.address() as AddressInfo).port;
  const auth: Array<[string, string]> = [
    ["Authorization", "Bearer s"],
    ["X-Raftkv-Cluster", "c"],
  ];
  for (const h of [
    ["Content-Type", "application/json; charset=koi8-r"],
    ["Content-Encoding", "br2"],
  ] as Array<[string, string]>) {
    const r = await rawSend(
      port,
      encodeRequest({
        method: "POST",
        target: "/raft/v1/append",
        headers: [...auth, h[0] === "Content-Type" ? h : ["Content-Type", "application/json"], h],
        body: "[]",
      }),
    );
    assert.equal(r.status, 415, h.join(": "));
    assert.equal((r.json as { code: string }).code, "BAD_BODY");
  }
  // A body declared over the limit is refused at once; the parser alone waited for all of it to arrive.
  const big = await rawSend(
    port,
    encodeRequest({
      method: "POST",
      target: "/raft/v1/append",
      headers: [...auth, ["Content-Type", "application/json"], ["Content-Length", String(2 << 20)]],
      body: "[",
    }),
    { timeoutMs: 3000 },
  );
  assert.equal(big.status, 413);
  assert.equal((big.json as { code: string }).code, "BODY_TOO_LARGE");
  assert.equal(big.headers.connection, "close");
  assert.equal(got.length, 0);
});
