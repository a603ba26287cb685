/**
 * Membership changes through the admin API on three processes: removing a
 * follower and the leader each answer 200 once the removal committed (the
 * leader hands over after its own removal), and a removed node comes back as
 * a learner, is promoted, and serves every write it missed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";

const SECRET = "m3mbers";
const auth = { authorization: `Bearer ${SECRET}` };

test("admin membership: remove a follower and the leader (200 once committed), re-add and promote", {
  timeout: 90_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: SECRET });
  c.startAll();
  const admin = async (i: number, method: string, path: string, body?: unknown) => {
    const n = c.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    const init: RequestInit = { method, headers: auth, signal: AbortSignal.timeout(15_000) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const voters = async (i: number) =>
    ((await c.status(i))?.members ?? []).filter((m) => m.role === "voter").map((m) => m.id);
  const readd = async (via: number, who: number) => {
    const n = c.nodes[who];
    if (!n) throw new Error(`no node ${who}`);
    const add = await admin(via, "POST", "/admin/members", {
      id: n.id,
      raftAddr: `127.0.0.1:${n.raftPort}`,
      httpUrl: `http://127.0.0.1:${n.httpPort}`,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(add.body, { ok: true, id: n.id, role: "learner" });
    // Promotion is refused until the learner caught up; retry (bounded) like an operator would. The
    // leader's membership agent may promote it first (its book says it was a voter): that is fine too.
    await waitFor(`${n.id} promoted`, 20_000, async () => {
      const st = await c.status(via);
      if (st?.members.some((m) => m.id === n.id && m.role === "voter")) return true;
      const r = await admin(via, "POST", `/admin/members/${n.id}/promote`);
      if (r.status === 200) return true;
      assert.ok([400, 404, 409, 503].includes(r.status), `promote answered ${r.status} ${JSON.stringify(r.body)}`);
      return undefined;
    });
  };

  let leader = await c.waitLeader();
  const w1 = await c.http(leader, "POST", "/key", { before: 1 });
  assert.equal(w1.status, 200);

  // 1. Remove a follower, sent to the other follower (forwarded to the leader).
  const [f1, f2] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
  const rmF = await admin(f2, "DELETE", `/admin/members/${c.nodes[f1]?.id}`);
  assert.equal(rmF.status, 200, JSON.stringify(rmF.body));
  assert.deepEqual(rmF.body, { ok: true, id: c.nodes[f1]?.id });
  assert.deepEqual((await voters(leader)).sort(), [c.nodes[leader]?.id, c.nodes[f2]?.id].sort());
  const w2 = await c.http(f2, "POST", "/key", { whileRemoved: 2 });
  assert.equal(w2.status, 200, JSON.stringify(w2.body));
  await readd(f2, f1);
  await waitFor("three voters", 10_000, async () => ((await voters(leader)).length === 3 ? true : undefined));
  const r2 = await c.http(f1, "GET", "/key/whileRemoved");
  assert.deepEqual(r2.body, { whileRemoved: 2 }, "the re-added node serves the write it missed");

  // 2. Remove the leader itself: the answer is 200 (the removal committed), then another node leads.
  leader = await c.waitLeader();
  const old = c.nodes[leader]?.id as string;
  const rmL = await admin(leader, "DELETE", `/admin/members/${old}`);
  assert.equal(rmL.status, 200, `removing the leader answered ${rmL.status} ${JSON.stringify(rmL.body)}`);
  assert.deepEqual(rmL.body, { ok: true, id: old });
  const rest = [0, 1, 2].filter((i) => i !== leader);
  const next = await c.waitLeader(rest, 2, 15_000);
  assert.notEqual(next, leader);
  assert.deepEqual((await voters(next)).sort(), rest.map((i) => c.nodes[i]?.id).sort());
  assert.ok(!(await c.status(next))?.members.some((m) => m.id === old), `${old} is still listed`);
  const w3 = await c.http(rest[0] as number, "POST", "/key", { afterLeaderRemoved: 3 });
  assert.equal(w3.status, 200, JSON.stringify(w3.body));

  // 3. The old leader comes back as a learner, is promoted, and has everything.
  await readd(next, leader);
  await c.waitLeader([0, 1, 2], 3, 15_000);
  for (const i of [0, 1, 2]) {
    const r = await c.http(i, "GET", "/key/afterLeaderRemoved");
    assert.deepEqual(r.body, { afterLeaderRemoved: 3 }, c.nodes[i]?.id);
  }
  // Removing an unknown member is a definite 404, and nothing changes.
  const unknown = await admin(next, "DELETE", "/admin/members/nobody");
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  assert.equal(unknown.body.code, "UNKNOWN_MEMBER");
  assert.equal((await voters(next)).length, 3);
});
