/**
 * A 3-node cluster from three processes: it elects a leader, serves the
 * hraftd README commands on every node, and a SIGTERM'd leader exits 0
 * quickly after handing leadership over.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster, waitFor } from "./harness.ts";

test("three nodes form a cluster, serve the hraftd commands, and a SIGTERM'd leader hands over", {
  timeout: 60_000,
}, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "s3cret" });
  c.startAll();
  const leader = await c.waitLeader();
  const follower = [0, 1, 2].find((i) => i !== leader) as number;

  // hraftd README: POST /key then GET from every node.
  const w = await c.http(follower, "POST", "/key", '{"user1": "batman"}');
  assert.equal(w.status, 200, JSON.stringify(w.body));
  for (const i of [0, 1, 2]) {
    const r = await c.http(i, "GET", "/key/user1");
    assert.deepEqual(r.body, { user1: "batman" }, `node ${i}`);
  }
  await c.http(leader, "POST", "/key", '{"user2": "robin"}');
  for (const i of [0, 1, 2]) assert.deepEqual((await c.http(i, "GET", "/key/user2")).body, { user2: "robin" });
  // A missing key is null, as in the Kubernetes fork of hraftd.
  assert.deepEqual((await c.http(follower, "GET", "/key/nobody")).body, { nobody: null });

  // Every state change is logged with term and leader.
  const changes = c.logs(leader).filter((l) => l.msg === "raft state changed");
  assert.ok(
    changes.some((l) => l.state === "leader" && typeof l.term === "number" && l.leader === c.nodes[leader]?.id),
  );

  const metrics = await c.http(leader, "GET", "/metrics");
  assert.match(String(metrics.body), /^raftkv_is_leader 1$/m);
  assert.match(String(metrics.body), /^raftkv_leader_changes_total \d+$/m);
  assert.match(String(metrics.body), /raftkv_http_requests_total\{route="\/key",method="POST",code="200"/);

  // SIGTERM the leader: exit 0, quickly, and another node leads without waiting for an election timeout.
  const t0 = Date.now();
  const exit = await c.kill(leader, "SIGTERM");
  const took = Date.now() - t0;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(took < 5000, `shutdown took ${took} ms`);
  assert.ok(c.logs(leader).some((l) => l.msg === "leadership handed over"));
  const rest = [0, 1, 2].filter((i) => i !== leader);
  const next = await waitFor("a new leader", 5000, async () => {
    const s = await c.status(rest[0] as number);
    return s?.state === "leader" || (s?.leader && s.leader.id !== c.nodes[leader]?.id) ? s : undefined;
  });
  assert.ok(next);
  const w2 = await c.http(rest[0] as number, "POST", "/key", { after: "handover" });
  assert.equal(w2.status, 200, JSON.stringify(w2.body));
  // The stopped node is still a member: a node never removes itself on shutdown.
  const s = await c.status(rest[1] as number);
  assert.ok(s?.members.some((m) => m.id === c.nodes[leader]?.id && m.role === "voter"));
});
