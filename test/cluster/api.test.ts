/**
 * The client API on a real 3-node cluster: JSON values of every type
 * round-trip through Raft to every node, followers forward or redirect,
 * compare-and-set and listing work across nodes, and bad input gets a 4xx
 * JSON error without changing anything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster } from "./harness.ts";

test("the client API across three processes: JSON types, forwarding, redirect, cas, list, bad input", {
  timeout: 60_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "s3cret" });
  c.startAll();
  const leader = await c.waitLeader();
  const [f1, f2] = [0, 1, 2].filter((i) => i !== leader) as [number, number];

  const values = {
    s: "héllo ✓ 😀",
    n: 42.5,
    neg: -7,
    t: true,
    f: false,
    arr: [1, "two", null, { three: [3] }],
    obj: { nested: { deep: { list: [true, false] } }, empty: {} },
    "with/slash": "ok",
  };
  const w = await c.http(f1, "POST", "/key", values);
  assert.equal(w.status, 200, JSON.stringify(w.body));
  for (const i of [0, 1, 2]) {
    for (const [k, v] of Object.entries(values)) {
      const r = await c.http(i, "GET", `/key/${encodeURIComponent(k)}`);
      assert.deepEqual(r.body, { [k]: v }, `node ${i} key ${k}`);
    }
  }

  // ?redirect answers 307 with the leader's URL instead of forwarding.
  const leaderPort = c.nodes[leader]?.httpPort;
  const red = await fetch(`http://127.0.0.1:${c.nodes[f2]?.httpPort}/key?redirect`, {
    method: "POST",
    body: '{"r": 1}',
    redirect: "manual",
  });
  assert.equal(red.status, 307);
  assert.match(red.headers.get("location") ?? "", new RegExp(`:${leaderPort}/key`));
  assert.deepEqual((await c.http(leader, "GET", "/key/r")).body, { r: null }, "a redirect writes nothing");

  // Compare-and-set from a follower: success, then a mismatch with the current value.
  assert.equal((await c.http(f2, "POST", "/cas/n", { expect: 42.5, value: 43 })).status, 200);
  const miss = await c.http(f1, "POST", "/cas/n", { expect: 42.5, value: 44 });
  assert.equal(miss.status, 409);
  assert.equal(miss.body.code, "CAS_MISMATCH");
  assert.deepEqual((await c.http(f1, "GET", "/key/n")).body, { n: 43 });

  // Delete through a follower; listing by prefix sees the rest.
  assert.equal((await c.http(f1, "DELETE", "/key/neg")).status, 200);
  assert.deepEqual((await c.http(f2, "GET", "/key/neg")).body, { neg: null });
  const list = await c.http(f2, "GET", "/keys?prefix=&limit=100");
  assert.deepEqual(
    (list.body.keys as { key: string }[]).map((k) => k.key),
    ["arr", "f", "n", "obj", "s", "t", "with/slash"],
  );

  // Bad input: a 4xx JSON error with a stable code, and nothing changes.
  const before = await c.http(f1, "GET", "/keys?limit=1000");
  const bad: [string, string, unknown, number, string][] = [
    ["POST", "/key", "{not json", 400, "BAD_JSON"],
    ["POST", "/key", "[1,2]", 400, "BAD_BODY"],
    ["POST", "/key", `{"${"k".repeat(2000)}": 1}`, 400, "BAD_KEY"],
    ["POST", "/key", JSON.stringify({ big: "x".repeat(2 * 1024 * 1024) }), 413, "BODY_TOO_LARGE"],
    ["GET", "/nowhere", undefined, 404, "NOT_FOUND"],
    ["PUT", "/key/x", "{}", 405, "METHOD_NOT_ALLOWED"],
    ["GET", "/key/x?consistency=sometimes", undefined, 400, "BAD_PARAM"],
    ["POST", "/cas/x", '{"value": 1}', 400, "BAD_BODY"],
  ];
  for (const [method, path, body, status, code] of bad) {
    for (const i of [leader, f1]) {
      const r = await c.http(i, method, path, body);
      assert.equal(r.status, status, `${method} ${path} on node ${i}: ${JSON.stringify(r.body).slice(0, 200)}`);
      assert.equal(r.body.code, code, `${method} ${path}`);
      assert.equal(typeof r.body.error, "string");
    }
  }
  const after = await c.http(f1, "GET", "/keys?limit=1000");
  assert.deepEqual(after.body, before.body, "bad requests changed nothing");
  for (const i of [0, 1, 2]) assert.equal((await c.http(i, "GET", "/livez")).status, 200);
});
