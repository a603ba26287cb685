/**
 * The client API over real HTTP on 127.0.0.1: every key-value, health and
 * document route, and every kind of bad input. A FakeNode backed by a real
 * MemoryKv stands in for the node. Forwarding and admin: forward.test.ts, admin.test.ts.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MAX_JSON_DEPTH } from "../../../node/src/api/body.ts";
import { type Running, startApp } from "./fake-node.ts";
import { assertError, call, rawExchange } from "./helpers.ts";

const T = { timeout: 10_000 };

describe("client API on a leader", T, () => {
  let a: Running;
  const metrics: string[] = [];
  before(async () => {
    a = await startApp("n1", {
      maxBodyBytes: 4096,
      metrics: (route, method, code, forwarded) => metrics.push(`${method} ${route} ${code} ${forwarded}`),
      metricsHandler: (_req, res) => {
        res.type("text/plain").send("raftkv_up 1\n");
      },
    });
  });
  after(() => a.close());

  test("hraftd: POST /key sets every key atomically, GET /key/<k> reads it, DELETE removes it", async () => {
    const set = await call(a.url, "POST", "/key", { user1: "batman", n: 1.5, obj: { a: [1, true] } });
    assert.equal(set.status, 200);
    assert.equal(typeof (set.body as { index: number }).index, "number");
    assert.deepEqual(a.node.calls.at(-1), "set user1,n,obj");
    assert.deepEqual((await call(a.url, "GET", "/key/user1")).body, { user1: "batman" });
    assert.deepEqual((await call(a.url, "GET", "/key/obj")).body, { obj: { a: [1, true] } });
    const del = await call(a.url, "DELETE", "/key/user1");
    assert.equal(del.status, 200);
    assert.equal((del.body as { deleted: number }).deleted, 1);
    assert.deepEqual((await call(a.url, "GET", "/key/user1")).body, { user1: null });
    assert.equal((await call(a.url, "DELETE", "/key/user1")).status, 200, "deleting an absent key is fine");
  });

  test("curl -d sends a form content type: still read as JSON", async () => {
    const r = await call(a.url, "POST", "/key", '{"foo": "bar"}', {
      "content-type": "application/x-www-form-urlencoded",
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((await call(a.url, "GET", "/key/foo")).body, { foo: "bar" });
    assert.equal((await call(a.url, "POST", "/key", '{"nz": 1}', { "content-type": "text/plain" })).status, 200);
    assert.equal((await call(a.url, "POST", "/key", Buffer.from('\uFEFF{"bom": 1}'))).status, 200, "a BOM is skipped");
  });

  test("a missing key reads as null; {} is an empty write", async () => {
    assert.deepEqual((await call(a.url, "GET", "/key/never-set")).body, { "never-set": null });
    assert.equal((await call(a.url, "POST", "/key", {})).status, 200);
  });

  test("keys may contain '/', are percent-decoded, and unicode works", async () => {
    await call(a.url, "POST", "/key", { "a/b/c": 1, "sp ace?#": 2, "ключ/🙂": 3, __proto__x: 4 });
    assert.deepEqual((await call(a.url, "GET", "/key/a/b/c")).body, { "a/b/c": 1 });
    assert.deepEqual((await call(a.url, "GET", "/key/a%2Fb%2Fc")).body, { "a/b/c": 1 });
    assert.deepEqual((await call(a.url, "GET", `/key/${encodeURIComponent("sp ace?#")}`)).body, { "sp ace?#": 2 });
    assert.deepEqual((await call(a.url, "GET", `/key/${encodeURIComponent("ключ/🙂")}`)).body, { "ключ/🙂": 3 });
  });

  test("__proto__ is an ordinary key", async () => {
    assert.equal((await call(a.url, "POST", "/key", '{"__proto__": {"polluted": true}}')).status, 200);
    const r = await call(a.url, "GET", "/key/__proto__");
    assert.equal(r.text, '{"__proto__":{"polluted":true}}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("bad keys: empty, too long, bad percent-encoding, lone surrogate → 400 BAD_KEY", async () => {
    assertError(await call(a.url, "GET", "/key/"), 400, "BAD_KEY");
    assertError(await call(a.url, "GET", "/key"), 400, "BAD_KEY");
    assertError(await call(a.url, "DELETE", "/key/"), 400, "BAD_KEY");
    assertError(await call(a.url, "GET", `/key/${"k".repeat(1025)}`), 400, "BAD_KEY");
    assert.equal((await call(a.url, "GET", `/key/${"k".repeat(1024)}`)).status, 200, "1024 bytes is the limit");
    assertError(await call(a.url, "GET", `/key/${"é".repeat(513)}`), 400, "BAD_KEY"); // 1026 bytes
    assertError(await call(a.url, "GET", "/key/%E0%A4%A"), 400, "BAD_KEY");
    assertError(await call(a.url, "GET", "/key/%ZZ"), 400, "BAD_KEY");
    assertError(await call(a.url, "POST", "/key", { "": 1 }), 400, "BAD_KEY");
    assertError(await call(a.url, "POST", "/key", { ["x".repeat(1025)]: 1 }), 400, "BAD_KEY");
    assertError(await call(a.url, "POST", "/key", '{"\\ud800": 1}'), 400, "BAD_KEY");
    assertError(await call(a.url, "POST", "/cas/", { expect: null, value: 1 }), 400, "BAD_KEY");
  });

  test("bad bodies: invalid JSON, not an object, null value, empty, not UTF-8, too deep", async () => {
    assertError(await call(a.url, "POST", "/key", '{"foo":'), 400, "BAD_JSON");
    assertError(await call(a.url, "POST", "/key", "foo=bar"), 400, "BAD_JSON");
    assertError(await call(a.url, "POST", "/key", ""), 400, "BAD_JSON");
    assertError(await call(a.url, "POST", "/key"), 400, "BAD_JSON");
    assertError(await call(a.url, "POST", "/key", Buffer.from([0x7b, 0xff, 0x7d])), 400, "BAD_JSON");
    for (const body of ["[1]", '"s"', "3", "null", "true"]) {
      assertError(await call(a.url, "POST", "/key", body), 400, "BAD_BODY");
    }
    assertError(await call(a.url, "POST", "/key", { k: null }), 400, "BAD_BODY");
    const nest = (n: number) => `{"k":${"[".repeat(n - 1)}${"]".repeat(n - 1)}}`;
    assert.equal((await call(a.url, "POST", "/key", nest(MAX_JSON_DEPTH))).status, 200);
    assertError(await call(a.url, "POST", "/key", nest(MAX_JSON_DEPTH + 1)), 400, "BAD_BODY");
    assertError(await call(a.url, "POST", "/key", nest(2000)), 400, "BAD_BODY");
    // Brackets inside strings do not count.
    assert.equal((await call(a.url, "POST", "/key", { s: "[".repeat(500) })).status, 200);
  });

  test("bodies over maxBodyBytes → 413 BODY_TOO_LARGE, by Content-Length or while streaming", async () => {
    const big = JSON.stringify({ k: "x".repeat(5000) });
    const r = await call(a.url, "POST", "/key", big);
    assertError(r, 413, "BODY_TOO_LARGE");
    assert.equal(r.headers.get("connection"), "close");
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 50; i++) c.enqueue(new TextEncoder().encode(i === 0 ? '{"k":"' : "x".repeat(1000)));
        c.close();
      },
    });
    const res = await fetch(`${a.url}/key`, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, "BODY_TOO_LARGE");
    assert.equal((await call(a.url, "POST", "/key", { k: "x".repeat(4000) })).status, 200, "just under the limit");
  });

  test("an oversized body that is still being sent does not hang the connection", async () => {
    const head = `POST /key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"k":"`;
    const r = await rawExchange(a.url, head + "x".repeat(1000));
    assert.match(r.text, /^HTTP\/1\.1 413 /);
    assert.match(r.text, /BODY_TOO_LARGE/);
    assert.ok(r.closed, "the server closes the connection");
    const chunked = `POST /key HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n${"x".repeat(5000)}\r\n`;
    const c = await rawExchange(a.url, chunked);
    assert.match(c.text, /^HTTP\/1\.1 413 /);
    assert.ok(c.closed);
  });

  test("compare-and-set: match, mismatch with current, absent (expect null), delete on match", async () => {
    const ok = await call(a.url, "POST", "/cas/c1", { expect: null, value: { v: 1 } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual({ ...(ok.body as object), index: 0 }, { ok: true, current: { v: 1 }, index: 0 });
    const miss = await call(a.url, "POST", "/cas/c1", { expect: null, value: 2 });
    assertError(miss, 409, "CAS_MISMATCH");
    assert.deepEqual((miss.body as { current: unknown }).current, { v: 1 });
    assert.equal((await call(a.url, "POST", "/cas/c1", { expect: { v: 1 }, value: 2 })).status, 200);
    assertError(await call(a.url, "POST", "/cas/c1", { expect: 3, delete: true }), 409, "CAS_MISMATCH");
    const del = await call(a.url, "POST", "/cas/c1", { expect: 2, delete: true });
    assert.deepEqual((del.body as { current: unknown }).current, null);
    assert.deepEqual((await call(a.url, "GET", "/key/c1")).body, { c1: null });
    const absent = await call(a.url, "POST", "/cas/nope", { expect: 1, value: 2 });
    assertError(absent, 409, "CAS_MISMATCH");
    assert.equal((absent.body as { current: unknown }).current, null);
    await call(a.url, "POST", "/key", { "c/2": 1 });
    assert.equal((await call(a.url, "POST", "/cas/c/2", { expect: 1, value: 3 })).status, 200, "keys with /");
  });

  test("compare-and-set bodies are checked", async () => {
    for (const body of [
      { value: 1 },
      { expect: 1 },
      { expect: 1, value: 2, delete: true },
      { expect: 1, value: null },
      { expect: 1, delete: "yes" },
      { expect: 1, value: 2, extra: 1 },
    ]) {
      assertError(await call(a.url, "POST", "/cas/k", body), 400, "BAD_BODY");
    }
    assertError(await call(a.url, "POST", "/cas/k", "[]"), 400, "BAD_BODY");
    assertError(await call(a.url, "POST", "/cas/k", "{"), 400, "BAD_JSON");
  });

  test("GET /keys lists by prefix in order, pages with next/after, and checks its parameters", async () => {
    const kv: Record<string, number> = {};
    for (let i = 0; i < 25; i++) kv[`list/${String(i).padStart(2, "0")}`] = i;
    await call(a.url, "POST", "/key", kv);
    const first = await call(a.url, "GET", "/keys?prefix=list/&limit=10");
    const b1 = first.body as { keys: { key: string; value: number }[]; next?: string };
    assert.equal(b1.keys.length, 10);
    assert.deepEqual(b1.keys[0], { key: "list/00", value: 0 });
    assert.equal(b1.next, "list/09");
    const all: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page++) {
      const q = `/keys?prefix=${encodeURIComponent("list/")}&limit=7${after ? `&after=${encodeURIComponent(after)}` : ""}`;
      const body = (await call(a.url, "GET", q)).body as { keys: { key: string }[]; next?: string };
      all.push(...body.keys.map((k) => k.key));
      after = body.next;
      if (after === undefined) break;
    }
    assert.deepEqual(all, Object.keys(kv));
    const exact = (await call(a.url, "GET", "/keys?prefix=list/&limit=25")).body as { next?: string };
    assert.equal(exact.next, undefined, "no next when nothing follows");
    const dflt = (await call(a.url, "GET", "/keys")).body as { keys: unknown[] };
    assert.ok(dflt.keys.length <= 100);
    assert.ok(a.node.calls.includes("list  101 - linearizable"), "the default limit is 100");
    for (const q of ["limit=0", "limit=10001", "limit=-1", "limit=1.5", "limit=abc", "limit=", "limit=1&limit=2"]) {
      assertError(await call(a.url, "GET", `/keys?${q}`), 400, "BAD_PARAM");
    }
    assert.equal((await call(a.url, "GET", "/keys?limit=10000")).status, 200);
    assertError(await call(a.url, "GET", `/keys?after=`), 400, "BAD_PARAM");
    assertError(await call(a.url, "GET", `/keys?prefix=${"p".repeat(1025)}`), 400, "BAD_PARAM");
    assertError(await call(a.url, "GET", "/keys?prefx=a"), 400, "BAD_PARAM");
  });

  test("read consistency: linearizable by default, stale on request, anything else 400", async () => {
    await call(a.url, "GET", "/key/x");
    assert.equal(a.node.calls.at(-1), "get x linearizable");
    await call(a.url, "GET", "/key/x?consistency=stale");
    assert.equal(a.node.calls.at(-1), "get x stale");
    await call(a.url, "GET", "/keys?consistency=stale&prefix=q");
    assert.equal(a.node.calls.at(-1), "list q 101 - stale");
    assertError(await call(a.url, "GET", "/key/x?consistency=strong"), 400, "BAD_PARAM");
    assertError(await call(a.url, "GET", "/key/x?consistency=stale&consistency=stale"), 400, "BAD_PARAM");
    assertError(await call(a.url, "GET", "/keys?consistency="), 400, "BAD_PARAM");
    assertError(await call(a.url, "GET", "/key/x?redirect=maybe"), 400, "BAD_PARAM");
    assertError(await call(a.url, "DELETE", "/key/x?consistency=stale"), 400, "BAD_PARAM");
  });

  test("unknown routes → 404 NOT_FOUND; wrong methods → 405 with Allow; OPTIONS → 204 with Allow", async () => {
    assertError(await call(a.url, "GET", "/nothing"), 404, "NOT_FOUND");
    assertError(await call(a.url, "GET", "/KEY/foo"), 404, "NOT_FOUND");
    assertError(await call(a.url, "GET", "/admin/whatever"), 404, "NOT_FOUND");
    const cases: [string, string, string][] = [
      ["PUT", "/key/foo", "GET, HEAD, DELETE"],
      ["POST", "/key/foo", "GET, HEAD, DELETE"],
      ["PUT", "/key", "POST, GET, HEAD, DELETE"],
      ["GET", "/cas/foo", "POST"],
      ["POST", "/keys", "GET, HEAD"],
      ["DELETE", "/status", "GET, HEAD"],
      ["POST", "/livez", "GET, HEAD"],
      ["PUT", "/readyz", "GET, HEAD"],
      ["GET", "/admin/members", "POST"],
      ["GET", "/admin/transfer-leader", "POST"],
      ["POST", "/admin/members/n2", "DELETE"],
      ["DELETE", "/admin/members/n2/promote", "POST"],
      ["POST", "/openapi.json", "GET, HEAD"],
      ["PATCH", "/metrics", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(a.url, method, path);
      assertError(r, 405, "METHOD_NOT_ALLOWED");
      assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
    }
    const opt = await call(a.url, "OPTIONS", "/key/foo");
    assert.equal(opt.status, 204);
    assert.equal(opt.headers.get("allow"), "GET, HEAD, DELETE");
  });

  test("HEAD works wherever GET does", async () => {
    const r = await fetch(`${a.url}/key/foo`, { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "");
  });

  test("/status, /livez, /readyz (and ?noleader), /metrics hook, /openapi.json", async () => {
    const s = await call(a.url, "GET", "/status");
    assert.equal(s.status, 200);
    assert.equal((s.body as { id: string }).id, "n1");
    assert.deepEqual((await call(a.url, "GET", "/livez")).body, { status: "ok" });
    assert.equal((await call(a.url, "GET", "/livez?anything=1")).status, 200, "liveness ignores the query");
    assert.equal((await call(a.url, "GET", "/readyz")).status, 200);
    a.node.role = { kind: "none" };
    try {
      const nr = await call(a.url, "GET", "/readyz");
      assertError(nr, 503, "NOT_READY");
      assert.match((nr.body as { error: string }).error, /no leader/);
      assert.equal((await call(a.url, "GET", "/readyz?noleader")).status, 200);
      assert.equal((await call(a.url, "GET", "/readyz?noleader=true")).status, 200);
      assertError(await call(a.url, "GET", "/readyz?noleader=0"), 503, "NOT_READY");
      assert.equal((await call(a.url, "GET", "/livez")).status, 200, "liveness never depends on the leader");
      assert.equal((await call(a.url, "GET", "/status")).status, 200);
    } finally {
      a.node.role = { kind: "leader" };
    }
    const m = await call(a.url, "GET", "/metrics");
    assert.equal(m.text, "raftkv_up 1\n");
    const doc = await call(a.url, "GET", "/openapi.json");
    assert.equal(doc.status, 200);
    assert.equal((doc.body as { openapi: string }).openapi, "3.1.0");
    assertError(await call(a.url, "GET", "/status?verbose=1"), 400, "BAD_PARAM");
  });

  test("no leader: writes and linearizable reads → 503 NO_LEADER with Retry-After; stale reads still work", async () => {
    await call(a.url, "POST", "/key", { nl: 1 });
    a.node.role = { kind: "none" };
    try {
      assertError(await call(a.url, "POST", "/key", { nl: 2 }), 503, "NO_LEADER");
      assertError(await call(a.url, "GET", "/key/nl"), 503, "NO_LEADER");
      assertError(await call(a.url, "DELETE", "/key/nl"), 503, "NO_LEADER");
      assertError(await call(a.url, "POST", "/cas/nl", { expect: 1, value: 2 }), 503, "NO_LEADER");
      assertError(await call(a.url, "GET", "/keys"), 503, "NO_LEADER");
      assert.equal((await call(a.url, "GET", "/key/nl")).headers.get("retry-after"), "1");
      assert.deepEqual((await call(a.url, "GET", "/key/nl?consistency=stale")).body, { nl: 1 });
    } finally {
      a.node.role = { kind: "leader" };
    }
  });

  test("the metrics hook sees route patterns, never raw paths", () => {
    assert.ok(metrics.includes("GET /key/{key} 200 false"), metrics.slice(0, 5).join("\n"));
    assert.ok(metrics.includes("GET unmatched 404 false"));
    assert.ok(metrics.includes("PUT /key/{key} 405 false"));
    assert.ok(!metrics.some((m) => m.includes("user1")));
  });

  test("responses name the node that served them", async () => {
    assert.equal((await call(a.url, "GET", "/livez")).headers.get("x-raftkv-node"), "n1");
  });
});

describe("internal errors", T, () => {
  test("a bug in the node becomes 500 INTERNAL, logged, without leaking the message", async () => {
    const a = await startApp("n1");
    try {
      a.node.get = async () => {
        throw new TypeError("secret detail");
      };
      const r = await call(a.url, "GET", "/key/x");
      assertError(r, 500, "INTERNAL");
      assert.doesNotMatch(r.text, /secret detail/);
    } finally {
      await a.close();
    }
  });
});
