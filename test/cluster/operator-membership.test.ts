/**
 * MEMBERSHIP=operator on three real processes with static PEERS: only the seed
 * bootstraps; the other two start blank and never ask to join; once added
 * through POST /admin/members they stay learners until promoted through
 * POST /admin/members/<id>/promote; then every node serves the same data.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Status, TestCluster, waitFor } from "./harness.ts";

const SECRET = "op3rator";

test("operator-managed membership: blank nodes wait to be added, learners wait to be promoted", {
  timeout: 90_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: SECRET, env: { MEMBERSHIP: "operator" } });
  c.startAll();
  const admin = async (i: number, method: string, path: string, body?: unknown) => {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${SECRET}` },
      signal: AbortSignal.timeout(15_000),
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`http://127.0.0.1:${c.nodes[i]?.httpPort}${path}`, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const roles = (s: Status | undefined) => Object.fromEntries((s?.members ?? []).map((m) => [m.id, m.role]));

  // The seed (node1, the smallest id) bootstraps alone once both peers answered that they are empty.
  const leader = await c.waitLeader([0], 1);
  assert.equal(leader, 0);

  // The two others stay blank: no join, no configuration, but /status names their incarnation. The agent of
  // a blank node would ask to join every 0.5 s, so 3 s without a change means it never asks.
  const blank: Status[] = [];
  const quietUntil = Date.now() + 3000;
  while (Date.now() < quietUntil) {
    assert.deepEqual(roles(await c.status(0)), { node1: "voter" }, "nobody joined by itself");
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const i of [1, 2]) {
    const s = await c.status(i);
    assert.ok(s, `${c.nodes[i]?.id} answers /status`);
    assert.equal(s.id, c.nodes[i]?.id);
    assert.match(s.incarnation, /^\S+$/);
    assert.deepEqual(s.members, [], `${s.id} holds no configuration`);
    assert.equal(s.lastLogIndex, 0);
    blank.push(s);
    assert.ok(
      c.logs(i).some((l) => String(l.msg).includes("waiting for the operator")),
      `${s.id} logs that it waits for the operator`,
    );
    assert.ok(!c.logs(i).some((l) => String(l.msg).includes("join")), `${s.id} never tried to join`);
  }
  assert.notEqual(blank[0]?.incarnation, blank[1]?.incarnation);
  const seed = await c.status(0);
  assert.equal(seed?.members[0]?.incarnation, seed?.incarnation, "the seed's /status incarnation is its member's");

  // The operator adds both as learners, with the incarnations their /status reported.
  for (const s of blank) {
    const n = c.nodes.find((x) => x.id === s.id);
    const add = await admin(0, "POST", "/admin/members", {
      id: s.id,
      raftAddr: `127.0.0.1:${n?.raftPort}`,
      httpUrl: `http://127.0.0.1:${n?.httpPort}`,
      incarnation: s.incarnation,
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(add.body, { ok: true, id: s.id, role: "learner" });
  }
  const w1 = await c.http(0, "POST", "/key", { beforePromotion: 1 });
  assert.equal(w1.status, 200, JSON.stringify(w1.body));

  // Both catch up as learners and are not promoted by the leader (which would take well under a second).
  await waitFor("learners caught up", 15_000, async () => {
    const st = await c.status(0);
    const caughtUp = st?.members.filter(
      (m) => m.role === "learner" && (m as { match?: number }).match === st.lastLogIndex,
    );
    return caughtUp?.length === 2 ? true : undefined;
  });
  const holdUntil = Date.now() + 3000;
  while (Date.now() < holdUntil) {
    assert.deepEqual(roles(await c.status(0)), { node1: "voter", node2: "learner", node3: "learner" });
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const s of blank) {
    const own = await c.status(c.nodes.findIndex((n) => n.id === s.id));
    assert.equal(own?.incarnation, s.incarnation, "the incarnation stays the one of the store");
    assert.equal(own?.members.find((m) => m.id === s.id)?.incarnation, s.incarnation, "bound to its incarnation");
  }

  // The operator promotes them, one at a time.
  for (const id of ["node2", "node3"]) {
    const r = await admin(0, "POST", `/admin/members/${id}/promote`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { ok: true, id, role: "voter" });
  }
  const lead = await c.waitLeader([0, 1, 2], 3);
  const w2 = await c.http(lead, "POST", "/key", { afterPromotion: 2 });
  assert.equal(w2.status, 200, JSON.stringify(w2.body));
  for (const i of [0, 1, 2]) {
    const r = await c.http(i, "GET", "/key/afterPromotion");
    assert.deepEqual(r.body, { afterPromotion: 2 }, `${c.nodes[i]?.id} reads the write`);
    await waitFor(`${c.nodes[i]?.id} applied both writes locally`, 10_000, async () => {
      const a = await c.http(i, "GET", "/key/afterPromotion?consistency=stale");
      const b = await c.http(i, "GET", "/key/beforePromotion?consistency=stale");
      return a.body.afterPromotion === 2 && b.body.beforePromotion === 1 ? true : undefined;
    });
  }
});
