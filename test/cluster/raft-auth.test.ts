/**
 * Only cluster members may speak Raft: requests without the shared secret
 * get 401, with another cluster id 403, and neither changes any state.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestCluster } from "./harness.ts";

test("unauthenticated Raft requests are refused and change no state", { timeout: 60_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: "right-secret" });
  c.startAll();
  const leader = await c.waitLeader();
  const victim = [0, 1, 2].find((i) => i !== leader) as number;
  const before = await c.status(victim);
  const v = c.nodes[victim];
  assert.ok(v && before);
  // A vote request from "node9" with a huge term: would depose the leader if it got through.
  const forged = [
    {
      type: "vote",
      from: "node9",
      to: v.id,
      term: before.term + 100,
      fromInc: "x",
      index: 1e6,
      logTerm: 1e6,
      force: true,
    },
  ];
  const send = async (path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${v.raftPort}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const cluster = { "x-raftkv-cluster": "raftkv" };
  assert.equal(await send("/raft/v1/vote", cluster, forged), 401, "no secret");
  assert.equal(await send("/raft/v1/vote", { ...cluster, authorization: "Bearer wrong" }, forged), 401, "wrong secret");
  assert.equal(await send("/raft/v1/append", { ...cluster, authorization: "Bearer wrong" }, []), 401);
  assert.equal(await send("/raft/v1/info", {}), 401, "info needs the secret too");
  const join = { id: "node9", incarnation: "x", raftAddr: "127.0.0.1:1", httpUrl: "http://127.0.0.1:1", mode: "join" };
  assert.equal(await send("/raft/v1/join", cluster, join), 401, "join needs the secret");
  const good = { authorization: "Bearer right-secret" };
  assert.equal(await send("/raft/v1/vote", { ...good, "x-raftkv-cluster": "other" }, forged), 403, "other cluster");
  assert.equal(await send("/raft/v1/info", good), 403, "no cluster id");
  // With credentials, malformed messages are still refused before the core sees them.
  assert.equal(await send("/raft/v1/vote", { ...good, ...cluster }, [{ type: "app", to: v.id }]), 400);

  await new Promise((r) => setTimeout(r, 300));
  for (const i of [0, 1, 2]) {
    const s = await c.status(i);
    assert.equal(s?.term, before.term, `term of node ${i} changed`);
    assert.equal(s?.leader?.id, c.nodes[leader]?.id);
    assert.ok(!s?.members.some((m) => m.id === "node9"));
  }
  const metrics = await c.http(victim, "GET", "/metrics");
  assert.match(String(metrics.body), /raftkv_raft_requests_rejected_total\{reason="unauthorized"\} [5-9]/);
});
