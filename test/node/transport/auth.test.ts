/** The Raft port's admission check: secret (401) then cluster id (403). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { authHeaders, checkAuth, safeEqual } from "../../../node/src/transport/auth.ts";

test("the right secret and cluster id pass", () => {
  assert.deepEqual(checkAuth(authHeaders("s", "c"), "s", "c"), { ok: true });
});

test("a missing or wrong secret is 401, a wrong cluster id 403", () => {
  const r1 = checkAuth({ "x-raftkv-cluster": "c" }, "s", "c");
  assert.equal(r1.ok === false && r1.status, 401);
  const r2 = checkAuth(authHeaders("t", "c"), "s", "c");
  assert.equal(r2.ok === false && r2.status, 401);
  const r3 = checkAuth({ authorization: "Basic s", "x-raftkv-cluster": "c" }, "s", "c");
  assert.equal(r3.ok === false && r3.status, 401);
  const r4 = checkAuth(authHeaders("s", "other"), "s", "c");
  assert.equal(r4.ok === false && r4.status, 403);
});

test("without a configured secret only the cluster id is checked", () => {
  assert.deepEqual(checkAuth({ "x-raftkv-cluster": "c" }, undefined, "c"), { ok: true });
  const r = checkAuth({}, undefined, "c");
  assert.equal(r.ok === false && r.status, 403);
  assert.equal(authHeaders(undefined, "c").authorization, undefined);
});

test("safeEqual compares strings of any length", () => {
  assert.equal(safeEqual("abc", "abc"), true);
  assert.equal(safeEqual("abc", "abcd"), false);
  assert.equal(safeEqual("", ""), true);
});
