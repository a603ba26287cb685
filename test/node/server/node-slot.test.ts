/**
 * The slot the client API holds for the life of the process: a stand-in
 * refuses every data, admin and status call with its code while the Raft node
 * starts or is suspended for a full disk; liveness and metrics keep answering;
 * swapping in a node serves requests again.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { createApiApp } from "../../../node/src/api/app.ts";
import { NodeSlot, StandInNode } from "../../../node/src/server/node-slot.ts";
import { FakeNode, quietLogger } from "../api/fake-node.ts";
import { assertError, call } from "../api/helpers.ts";

test("a stand-in refuses everything with its code; replacing it serves again", async (t) => {
  const slot = new NodeSlot(new StandInNode("n1", "NOT_READY", "node is starting"));
  const app = createApiApp(slot, {
    maxBodyBytes: 1 << 16,
    logger: quietLogger,
    adminSecret: "s",
    metricsHandler: (_req, res) => void res.type("text/plain").send("raftkv_up 1\n"),
  });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const admin = { authorization: "Bearer s" };

  // Starting: 503 NOT_READY (with Retry-After) everywhere but liveness and metrics.
  assertError(await call(url, "GET", "/key/a"), 503, "NOT_READY");
  assertError(await call(url, "POST", "/key", { a: 1 }), 503, "NOT_READY");
  assertError(await call(url, "GET", "/status"), 503, "NOT_READY");
  const ready = await call(url, "GET", "/readyz");
  assertError(ready, 503, "NOT_READY");
  assert.equal((ready.body as { error: string }).error, "node is starting");
  assert.equal((await call(url, "GET", "/livez")).status, 200);
  assert.equal((await call(url, "GET", "/metrics")).text, "raftkv_up 1\n");

  // Suspended for a full disk: 507 STORAGE_FULL for every call, reads and admin included.
  const why = "storage full: a write failed (No space left on device); the node is suspended";
  slot.replace(new StandInNode("n1", "STORAGE_FULL", why));
  for (const [method, path, body] of [
    ["GET", "/key/a", undefined],
    ["GET", "/keys", undefined],
    ["POST", "/key", { a: 1 }],
    ["DELETE", "/key/a", undefined],
    ["POST", "/cas/a", { expect: null, value: 1 }],
    ["GET", "/status", undefined],
    ["POST", "/admin/transfer-leader", {}],
    ["DELETE", "/admin/members/n2", undefined],
  ] as const) {
    const r = await call(url, method, path, body, admin);
    assertError(r, 507, "STORAGE_FULL");
    assert.equal((r.body as { error: string }).error, why, `${method} ${path}`);
  }
  // Bad input is still bad input first.
  assertError(await call(url, "POST", "/key", "{nope"), 400, "BAD_JSON");
  assertError(await call(url, "POST", "/admin/transfer-leader", {}), 401, "UNAUTHORIZED");
  assertError(await call(url, "GET", "/readyz"), 503, "NOT_READY");

  // A running node again.
  const node = new FakeNode("n1");
  slot.replace(node);
  assert.equal(slot.current, node);
  assert.equal((await call(url, "POST", "/key", { a: 1 })).status, 200);
  assert.deepEqual((await call(url, "GET", "/key/a")).body, { a: 1 });
  assert.equal((await call(url, "GET", "/readyz")).status, 200);
});
