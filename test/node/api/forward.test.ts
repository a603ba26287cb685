/**
 * Followers serve what only the leader can serve by proxying to it: two (or
 * three) real app instances on 127.0.0.1, the followers' FakeNodes pointing at
 * the leader's URL. Also redirects, loop prevention, and forwarding failures.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { logged, type Running, startApp } from "./fake-node.ts";
import { assertError, call, freePort } from "./helpers.ts";

const T = { timeout: 15_000 };
const SECRET = "s3cret";

describe("forwarding from a follower to the leader", T, () => {
  let leader: Running;
  let follower: Running;
  const followerMetrics: string[] = [];
  before(async () => {
    leader = await startApp("n1", { adminSecret: SECRET });
    follower = await startApp("n2", {
      adminSecret: SECRET,
      metrics: (route, method, code, forwarded) => followerMetrics.push(`${method} ${route} ${code} ${forwarded}`),
    });
    follower.node.role = { kind: "follower", leader: { id: "n1", httpUrl: leader.url } };
  });
  after(async () => {
    await follower.close();
    await leader.close();
  });

  test("writes reach the leader transparently, body and content type unchanged", async () => {
    const r = await call(follower.url, "POST", "/key", '{"fw": {"a": 1}}', {
      "content-type": "application/x-www-form-urlencoded",
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("x-raftkv-node"), "n1", "the leader answered");
    assert.deepEqual(await leader.node.kv.get("fw"), { a: 1 });
    assert.equal(await follower.node.kv.get("fw"), undefined, "the follower's own state is untouched");
    assert.ok(followerMetrics.includes("POST /key 200 true"), followerMetrics.join("\n"));
  });

  test("linearizable reads are forwarded; stale reads are served locally", async () => {
    await call(leader.url, "POST", "/key", { "r/1": "on-leader" });
    assert.deepEqual((await call(follower.url, "GET", "/key/r%2F1")).body, { "r/1": "on-leader" });
    assert.equal(leader.node.calls.at(-1), "get r/1 linearizable");
    assert.deepEqual((await call(follower.url, "GET", "/key/r/1?consistency=stale")).body, { "r/1": null });
    assert.equal(follower.node.calls.at(-1), "get r/1 stale");
  });

  test("the query string is passed on: lists, deletes, compare-and-set and its 409", async () => {
    await call(leader.url, "POST", "/key", { "p/a": 1, "p/b": 2, "p/c": 3 });
    const list = await call(follower.url, "GET", "/keys?prefix=p%2F&limit=2");
    assert.deepEqual(list.body, {
      keys: [
        { key: "p/a", value: 1 },
        { key: "p/b", value: 2 },
      ],
      next: "p/b",
    });
    assert.equal(leader.node.calls.at(-1), "list p/ 3 - linearizable");
    const miss = await call(follower.url, "POST", "/cas/p/a", { expect: 9, value: 2 });
    assertError(miss, 409, "CAS_MISMATCH");
    assert.equal((miss.body as { current: unknown }).current, 1);
    assert.equal((await call(follower.url, "POST", "/cas/p/a", { expect: 1, value: 5 })).status, 200);
    assert.equal((await call(follower.url, "DELETE", "/key/p/b")).status, 200);
    assert.deepEqual(
      (await leader.node.kv.list({ prefix: "p/", limit: 10 })).map((kv) => kv.key),
      ["p/a", "p/c"],
    );
  });

  test("bad input is refused by the follower itself, without a trip to the leader", async () => {
    const before = leader.node.calls.length;
    assertError(await call(follower.url, "POST", "/key", "{"), 400, "BAD_JSON");
    assertError(await call(follower.url, "GET", "/key/x?consistency=no"), 400, "BAD_PARAM");
    assert.equal(leader.node.calls.length, before);
  });

  test("the leader's refusals come back as they are (503 NO_LEADER with Retry-After)", async () => {
    leader.node.role = { kind: "none" };
    try {
      const r = await call(follower.url, "POST", "/key", { x: 1 });
      assertError(r, 503, "NO_LEADER");
      assert.equal(r.headers.get("retry-after"), "1");
    } finally {
      leader.node.role = { kind: "leader" };
    }
  });

  test("?redirect answers 307 with Location: <leader><path>; fetch follows it with the body", async () => {
    const r = await call(follower.url, "POST", "/key?redirect", { rd: 1 });
    assert.equal(r.status, 307);
    assert.equal(r.headers.get("location"), `${leader.url}/key?redirect`);
    assert.equal(await leader.node.kv.get("rd"), undefined, "a redirect does not write");
    const res = await fetch(`${follower.url}/key?redirect=1`, { method: "POST", body: '{"rd": 2}' });
    assert.equal(res.status, 200);
    assert.equal(await leader.node.kv.get("rd"), 2);
    const g = await call(follower.url, "GET", "/key/a%2Fb?redirect");
    assert.equal(g.headers.get("location"), `${leader.url}/key/a%2Fb?redirect`);
  });

  test("admin calls are forwarded with their credentials; a wrong secret is refused locally", async () => {
    const auth = { authorization: `Bearer ${SECRET}` };
    const add = await call(
      follower.url,
      "POST",
      "/admin/members",
      { id: "n9", raftAddr: "10.0.0.9:12000", httpUrl: "http://10.0.0.9:11000" },
      auth,
    );
    assert.equal(add.status, 200, add.text);
    assert.ok(leader.node.members.has("n9"));
    assert.equal((await call(follower.url, "POST", "/admin/members/n9/promote", undefined, auth)).status, 200);
    assert.equal(leader.node.members.get("n9")?.role, "voter");
    const t = await call(follower.url, "POST", "/admin/transfer-leader", { id: "n9" }, auth);
    assert.deepEqual(t.body, { ok: true, leader: "n9" });
    assert.equal((await call(follower.url, "DELETE", "/admin/members/n9", undefined, auth)).status, 200);
    assert.ok(!leader.node.members.has("n9"));
    const before = leader.node.calls.length;
    assertError(
      await call(follower.url, "DELETE", "/admin/members/n1", undefined, { authorization: "Bearer no" }),
      401,
      "UNAUTHORIZED",
    );
    assert.equal(leader.node.calls.length, before);
  });
});

describe("forwarding never loops and fails cleanly", T, () => {
  let a: Running;
  let b: Running;
  before(async () => {
    a = await startApp("na");
    b = await startApp("nb");
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test("two followers pointing at each other: one hop, then 503 NO_LEADER", async () => {
    a.node.role = { kind: "follower", leader: { id: "nb", httpUrl: b.url } };
    b.node.role = { kind: "follower", leader: { id: "na", httpUrl: a.url } };
    const seen: string[] = [];
    b.server.on("request", (req) => seen.push(`${req.method} ${req.url} ${req.headers["x-raftkv-forwarded"]}`));
    const r = await call(a.url, "POST", "/key", { loop: 1 });
    assertError(r, 503, "NO_LEADER");
    assert.deepEqual(seen, ["POST /key 1"]);
    assertError(await call(a.url, "GET", "/key/loop"), 503, "NO_LEADER");
  });

  test("a request already marked as forwarded is never forwarded again", async () => {
    a.node.role = { kind: "follower", leader: { id: "nb", httpUrl: b.url } };
    b.node.role = { kind: "leader" };
    const r = await call(a.url, "POST", "/key", { m: 1 }, { "x-raftkv-forwarded": "1" });
    assertError(r, 503, "NO_LEADER");
    assert.equal(await b.node.kv.get("m"), undefined);
  });

  test("a follower that knows no leader answers 503 NO_LEADER", async () => {
    a.node.role = { kind: "none" };
    const r = await call(a.url, "POST", "/key", { x: 1 });
    assertError(r, 503, "NO_LEADER");
    assert.equal((r.body as { leader: string }).leader, "");
  });

  test("an unreachable leader → 503 NO_LEADER with Retry-After, logged", async () => {
    const port = await freePort();
    a.node.role = { kind: "follower", leader: { id: "gone", httpUrl: `http://127.0.0.1:${port}` } };
    const r = await call(a.url, "POST", "/key", { x: 1 });
    assertError(r, 503, "NO_LEADER");
    assert.match((r.body as { error: string }).error, /ECONNREFUSED/);
    assertError(await call(a.url, "GET", "/key/x"), 503, "NO_LEADER");
    assert.ok(logged.some((l) => l.level === "warn" && /forwarding/.test(l.msg)));
  });

  test("a leader that does not answer in time: reads → NO_LEADER, writes → UNAVAILABLE (outcome unknown)", async () => {
    const slow = await startApp("slow");
    const c = await startApp("nc", { forwardTimeoutMs: 200 });
    try {
      slow.node.hangMs = 3000;
      c.node.role = { kind: "follower", leader: { id: "slow", httpUrl: slow.url } };
      const started = Date.now();
      const r = await call(c.url, "POST", "/key", { x: 1 });
      assertError(r, 503, "UNAVAILABLE");
      assert.match((r.body as { error: string }).error, /may or may not/);
      assert.ok(Date.now() - started < 2500, "the forward timeout applies");
    } finally {
      await c.close();
      await slow.close();
    }
  });

  test("forward: false answers 421 NOT_LEADER naming the leader", async () => {
    const c = await startApp("nc", { forward: false });
    try {
      c.node.role = { kind: "follower", leader: { id: "nb", httpUrl: b.url } };
      const r = await call(c.url, "POST", "/key", { x: 1 });
      assertError(r, 421, "NOT_LEADER");
      assert.equal((r.body as { leader: string }).leader, b.url);
      assert.equal((await call(c.url, "POST", "/key?redirect", { x: 1 })).status, 307, "?redirect still works");
    } finally {
      await c.close();
    }
  });
});
