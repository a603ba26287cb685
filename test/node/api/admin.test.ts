/** Admin routes: the cluster secret, body checks, and how membership refusals are reported. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Running, startApp } from "./fake-node.ts";
import { assertError, call } from "./helpers.ts";

const T = { timeout: 10_000 };
const SECRET = "correct horse battery staple";
const AUTH = { authorization: `Bearer ${SECRET}` };
const member = { id: "n2", raftAddr: "raftkv-1.raftkv:12000", httpUrl: "http://raftkv-1.raftkv:11000" };

describe("admin API with a cluster secret", T, () => {
  let a: Running;
  before(async () => {
    a = await startApp("n1", { adminSecret: SECRET });
  });
  after(() => a.close());

  test("missing or wrong credentials → 401 UNAUTHORIZED with WWW-Authenticate, before the body is read", async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Bearer ${SECRET}x` },
      { authorization: `Basic ${Buffer.from(`u:${SECRET}`).toString("base64")}` },
      { authorization: SECRET },
      { authorization: "Bearer " },
    ];
    for (const headers of cases) {
      const r = await call(a.url, "POST", "/admin/members", member, headers);
      assertError(r, 401, "UNAUTHORIZED");
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
    }
    assertError(await call(a.url, "POST", "/admin/members", "{not json"), 401, "UNAUTHORIZED");
    assertError(await call(a.url, "POST", "/admin/members/n2/promote"), 401, "UNAUTHORIZED");
    assertError(await call(a.url, "DELETE", "/admin/members/n2"), 401, "UNAUTHORIZED");
    assertError(await call(a.url, "POST", "/admin/transfer-leader"), 401, "UNAUTHORIZED");
    assert.equal(a.node.calls.length, 0);
  });

  test("add a learner, promote it, transfer leadership, remove it", async () => {
    const add = await call(a.url, "POST", "/admin/members", { ...member, incarnation: "abc123" }, AUTH);
    assert.equal(add.status, 200, add.text);
    assert.deepEqual(add.body, { ok: true, id: "n2", role: "learner" });
    assert.equal(a.node.calls.at(-1), `addLearner n2 ${member.raftAddr} ${member.httpUrl} abc123`);
    const lower = { authorization: `bearer ${SECRET}` };
    assert.deepEqual((await call(a.url, "POST", "/admin/members/n2/promote", undefined, lower)).body, {
      ok: true,
      id: "n2",
      role: "voter",
    });
    assert.deepEqual((await call(a.url, "POST", "/admin/transfer-leader", "", AUTH)).body, { ok: true, leader: "n2" });
    assert.equal(a.node.calls.at(-1), "transferLeader -");
    await call(a.url, "POST", "/admin/transfer-leader", {}, AUTH);
    assert.equal(a.node.calls.at(-1), "transferLeader -");
    await call(a.url, "POST", "/admin/transfer-leader", { id: "n2" }, AUTH);
    assert.equal(a.node.calls.at(-1), "transferLeader n2");
    assert.deepEqual((await call(a.url, "DELETE", "/admin/members/n2", undefined, AUTH)).body, { ok: true, id: "n2" });
    assert.ok(!a.node.members.has("n2"));
  });

  test("node refusals keep their codes: UNKNOWN_MEMBER 404, BAD_CONFIG_CHANGE 400", async () => {
    assertError(await call(a.url, "POST", "/admin/members/zz/promote", undefined, AUTH), 404, "UNKNOWN_MEMBER");
    assertError(await call(a.url, "DELETE", "/admin/members/zz", undefined, AUTH), 404, "UNKNOWN_MEMBER");
    assertError(await call(a.url, "POST", "/admin/transfer-leader", { id: "zz" }, AUTH), 404, "UNKNOWN_MEMBER");
    assertError(await call(a.url, "POST", "/admin/members", { ...member, id: "n1" }, AUTH), 400, "BAD_CONFIG_CHANGE");
  });

  test("bodies and ids are checked", async () => {
    const bad: unknown[] = [
      { ...member, id: "Bad_ID" },
      { ...member, id: 7 },
      { raftAddr: member.raftAddr, httpUrl: member.httpUrl },
      { ...member, raftAddr: "no-port" },
      { ...member, raftAddr: "host:99999" },
      { ...member, raftAddr: 12000 },
      { ...member, httpUrl: "ftp://x" },
      { ...member, httpUrl: "not a url" },
      { ...member, httpUrl: "http://x:1/?q=1" },
      { ...member, incarnation: "" },
      { ...member, incarnation: 5 },
      { ...member, extra: true },
      [member],
    ];
    for (const body of bad) {
      assertError(await call(a.url, "POST", "/admin/members", body, AUTH), 400, "BAD_BODY");
    }
    assertError(await call(a.url, "POST", "/admin/members", "{", AUTH), 400, "BAD_JSON");
    assertError(await call(a.url, "POST", "/admin/transfer-leader", { id: 5 }, AUTH), 400, "BAD_BODY");
    assertError(await call(a.url, "POST", "/admin/transfer-leader", { who: "n2" }, AUTH), 400, "BAD_BODY");
    assertError(await call(a.url, "POST", "/admin/members/UPPER/promote", undefined, AUTH), 400, "BAD_PARAM");
    assertError(await call(a.url, "DELETE", "/admin/members/%ZZ", undefined, AUTH), 400, "BAD_PARAM");
    assertError(await call(a.url, "DELETE", "/admin/members/n2?force", undefined, AUTH), 400, "BAD_PARAM");
    const v6 = { ...member, id: "n3", raftAddr: "[fd00::3]:12000", httpUrl: "https://[fd00::3]:11000/" };
    assert.equal((await call(a.url, "POST", "/admin/members", v6, AUTH)).status, 200);
    assert.equal(a.node.members.get("n3")?.httpUrl, "https://[fd00::3]:11000", "trailing slash dropped");
  });

  test("non-admin routes need no secret", async () => {
    assert.equal((await call(a.url, "POST", "/key", { k: 1 })).status, 200);
    assert.equal((await call(a.url, "GET", "/status")).status, 200);
  });
});

describe("admin API without a cluster secret", T, () => {
  test("is open (a cluster without RAFT_SECRET trusts its network)", async () => {
    const a = await startApp("n1");
    try {
      assert.equal((await call(a.url, "POST", "/admin/members", member)).status, 200);
      assert.equal(
        (await call(a.url, "POST", "/admin/members/n2/promote", undefined, { authorization: "Bearer x" })).status,
        200,
      );
    } finally {
      await a.close();
    }
  });
});
