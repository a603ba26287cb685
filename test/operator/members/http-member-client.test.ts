/**
 * HttpMemberClient against real raftkv-node processes (MEMBERSHIP=operator, so every membership change is
 * the client's doing) and against tiny misbehaving HTTP servers on 127.0.0.1: status never throws, admin
 * calls change what /status shows, and failures carry the node's code or TIMEOUT/UNREACHABLE/BAD_ANSWER.
 */

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { HttpMemberClient } from "../../../operator/src/members/http-member-client.ts";
import { MemberCallError } from "../../../operator/src/members/member-client.ts";
import type { NodeStatus } from "../../../operator/src/plan/observed.ts";
import { freePort, TestCluster, waitFor } from "../../cluster/harness.ts";

const SECRET = "member-client-secret";

/** A server on 127.0.0.1 answering with `handler`, closed after the test. */
async function tinyServer(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Asserts that `p` rejects with a MemberCallError of `code`; returns it. */
async function callError(p: Promise<unknown>, code: string): Promise<MemberCallError> {
  const e = await p.then(
    () => assert.fail(`expected ${code}, the call succeeded`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof MemberCallError, `not a MemberCallError: ${String(e)}`);
  assert.equal(e.code, code, e.message);
  return e;
}

test("HttpMemberClient drives real nodes: status, add, promote, transfer, remove", { timeout: 120_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: SECRET, env: { MEMBERSHIP: "operator" } });
  c.startAll();
  const url = (i: number) => `http://127.0.0.1:${c.nodes[i]?.httpPort}`;
  const raft = (i: number) => `127.0.0.1:${c.nodes[i]?.raftPort}`;
  const client = new HttpMemberClient();
  const status = async (i: number): Promise<NodeStatus> => {
    const a = await client.status(url(i));
    if (!a.ok) throw new Error(`node${i + 1}: ${a.error}`);
    return a.status;
  };
  const roles = (s: NodeStatus) => Object.fromEntries(s.members.map((m) => [m.id, m.role]));
  await c.waitLeader([0], 1);

  await t.test("status of the leader and of a blank node", async () => {
    const lead = await status(0);
    assert.equal(lead.id, "node1");
    assert.equal(lead.state, "leader");
    assert.deepEqual(lead.leader, { id: "node1" });
    assert.equal(lead.lastContactMs, 0);
    assert.deepEqual(lead.members, [
      { id: "node1", role: "voter", incarnation: lead.incarnation, match: lead.lastLogIndex },
    ]);
    assert.ok(lead.commitIndex >= 1 && lead.appliedIndex === lead.commitIndex);
    const blank = await status(1);
    assert.equal(blank.id, "node2");
    assert.equal(blank.state, "follower");
    assert.equal(blank.leader, null);
    assert.deepEqual(blank.members, []);
    assert.equal(blank.lastLogIndex, 0);
    assert.match(blank.incarnation, /^\S+$/);
    assert.notEqual(blank.incarnation, lead.incarnation);
  });

  await t.test("addLearner, promote, transferLeader and remove take effect", async () => {
    const [b2, b3] = [await status(1), await status(2)];
    await client.addLearner(url(0), SECRET, {
      id: "node2",
      raftAddr: raft(1),
      httpUrl: url(1),
      incarnation: b2.incarnation,
    });
    assert.deepEqual(roles(await status(0)), { node1: "voter", node2: "learner" });
    // Sent to node2, a learner now: it forwards the call to the leader.
    // (It must have applied the leader's address record first, or it cannot tell where to forward.)
    await waitFor("node2 caught up", 10_000, async () => {
      const [l, f] = [await status(0), await status(1)];
      return f.leader && f.appliedIndex >= l.commitIndex ? true : undefined;
    });
    await client.addLearner(url(1), SECRET, {
      id: "node3",
      raftAddr: raft(2),
      httpUrl: url(2),
      incarnation: b3.incarnation,
    });
    const withLearners = await status(0);
    assert.deepEqual(roles(withLearners), { node1: "voter", node2: "learner", node3: "learner" });
    assert.equal(withLearners.members.find((m) => m.id === "node3")?.incarnation, b3.incarnation);

    for (const id of ["node2", "node3"]) {
      await waitFor(`${id} caught up`, 15_000, async () => {
        const s = await status(0);
        return s.members.find((m) => m.id === id)?.match === s.lastLogIndex ? true : undefined;
      });
      await client.promote(url(0), SECRET, id);
    }
    assert.deepEqual(roles(await status(0)), { node1: "voter", node2: "voter", node3: "voter" });

    await client.transferLeader(url(0), SECRET, "node2");
    await waitFor("node2 leads, as everyone sees", 10_000, async () => {
      const all = await Promise.all([0, 1, 2].map(status));
      return all.every((s) => s.leader?.id === "node2") ? true : undefined;
    });
    assert.equal((await status(1)).state, "leader");

    // Sent to node1, a follower now: forwarded to node2.
    await client.remove(url(0), SECRET, "node3");
    assert.deepEqual(roles(await status(1)), { node1: "voter", node2: "voter" });
  });

  await t.test("a refusal carries the node's code and status", async () => {
    const wrong = await callError(client.promote(url(1), "not-the-secret", "node1"), "UNAUTHORIZED");
    assert.equal(wrong.status, 401);
    const noSecret = await callError(client.remove(url(1), "", "node1"), "UNAUTHORIZED");
    assert.equal(noSecret.status, 401);
    const notLearner = await callError(client.promote(url(1), SECRET, "node1"), "UNKNOWN_MEMBER");
    assert.equal(notLearner.status, 404);
    assert.match(notLearner.message, /node1 is not a learner/);
    assert.deepEqual(roles(await status(1)), { node1: "voter", node2: "voter" }, "nothing changed");
  });
});

test("status never throws: refused, silent, broken and hostile servers are {ok: false}", async (t) => {
  const client = new HttpMemberClient({ statusTimeoutMs: 400, adminTimeoutMs: 400 });
  const closed = `http://127.0.0.1:${await freePort()}`;
  let started = Date.now();
  const refused = await client.status(closed);
  assert.ok(!refused.ok);
  assert.match(refused.error, /cannot connect: ECONNREFUSED/);
  assert.ok(Date.now() - started < 1000, "a refused connection is reported at once");
  await callError(
    client.addLearner(closed, SECRET, { id: "a", raftAddr: "h:1", httpUrl: closed, incarnation: "i" }),
    "UNREACHABLE",
  );

  // Accepts, then never answers (and a node that trickles its answer is cut off the same way).
  const silent = await tinyServer(t, () => {});
  started = Date.now();
  const quiet = await client.status(silent);
  assert.deepEqual(quiet, { ok: false, error: "no answer within 400 ms" });
  assert.ok(Date.now() - started < 1500, `bounded by the timeout (took ${Date.now() - started} ms)`);
  const trickle = await tinyServer(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"id": "x",');
  });
  assert.deepEqual(await client.status(trickle), { ok: false, error: "no answer within 400 ms" });
  const timedOut = await callError(client.promote(silent, SECRET, "a"), "TIMEOUT");
  assert.equal(timedOut.status, 0);

  const answers: Record<string, [number, string, Record<string, string>?]> = {
    "/garbage": [200, "{not json"],
    "/wrong-shape": [200, JSON.stringify({ id: "x", state: "leader" })],
    "/array": [200, "[1,2,3]"],
    "/starting": [503, JSON.stringify({ error: "node is starting", code: "NOT_READY" })],
    "/html": [502, "<html>bad gateway</html>"],
    "/redirect": [307, "", { location: "http://127.0.0.1:1/status" }],
    "/huge": [200, `{"pad":"${"x".repeat(2 << 20)}"}`],
  };
  const hostile = await tinyServer(t, (req, res) => {
    const base = (req.url ?? "").replace(/\/(status|admin\/.*)$/, "");
    const [code, body, headers] = answers[base] ?? [404, ""];
    res.writeHead(code, { "content-type": "application/json", ...headers });
    res.end(body);
  });
  const expected: Record<string, RegExp> = {
    "/garbage": /answer is not JSON/,
    "/wrong-shape": /bad \/status answer: leader is not an object/,
    "/array": /the body is not an object/,
    "/starting": /answered 503 NOT_READY: node is starting/,
    "/html": /answered 502$/,
    "/redirect": /answered 307/,
    "/huge": /answer larger than 1048576 bytes/,
  };
  for (const [path, pattern] of Object.entries(expected)) {
    const a = await client.status(hostile + path);
    assert.ok(!a.ok, `${path} was accepted`);
    assert.match(a.error, pattern, path);
  }
  assert.match(((await client.status("no url")) as { error: string }).error, /not a URL/);

  // Admin calls: a raftkv error body gives its code; anything else is BAD_ANSWER.
  const starting = await callError(client.remove(`${hostile}/starting`, SECRET, "a"), "NOT_READY");
  assert.equal(starting.status, 503);
  for (const path of ["/garbage", "/html", "/redirect", "/wrong-shape", "/array"]) {
    await callError(client.transferLeader(hostile + path, SECRET, "a"), "BAD_ANSWER");
  }
});
