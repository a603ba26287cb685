/** The replicated address book: member entries, snapshots, and the order of address sources. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCommand } from "../../../node/src/kv/command.ts";
import { decodeMemberRecord, encodeMemberRecord, MembershipBook } from "../../../node/src/membership-book.ts";
import { unwrapSnapshot, wrapSnapshot } from "../../../node/src/server/snapshot-envelope.ts";

const a1 = { raftAddr: "n1.svc:12000", httpUrl: "http://n1.svc:11000", voter: true };

test("member entries round-trip and are not KV commands (the KV store ignores them)", () => {
  const data = encodeMemberRecord("n1", a1);
  const rec = decodeMemberRecord({ index: 5, term: 2, type: "normal", data });
  assert.deepEqual(rec, { op: "member", id: "n1", ...a1 });
  assert.equal(parseCommand(data).ok, false);
  assert.equal(decodeMemberRecord({ index: 5, term: 2, type: "normal", data: '{"op":"set","kv":{}}' }), undefined);
  assert.equal(decodeMemberRecord({ index: 5, term: 2, type: "config", data }), undefined);
});

test("replicated addresses win over seeds, seeds over learned ones, learned over derived", () => {
  const b = new MembershipBook((id) => ({ raftAddr: `${id}.derived:1`, httpUrl: "", voter: true }));
  assert.equal(b.get("x")?.raftAddr, "x.derived:1");
  b.learn("x", "x.learned:1", "");
  assert.equal(b.get("x")?.raftAddr, "x.learned:1");
  b.seed("x", { raftAddr: "x.seed:1", httpUrl: "", voter: true });
  assert.equal(b.get("x")?.raftAddr, "x.seed:1");
  b.apply({ op: "member", id: "x", raftAddr: "x.log:1", httpUrl: "http://x", voter: false });
  assert.equal(b.get("x")?.raftAddr, "x.log:1");
  assert.equal(b.replicated("x")?.voter, false);
});

test("a snapshot carries the replicated book beside the KV data", () => {
  const b = new MembershipBook();
  b.apply({ op: "member", id: "n1", ...a1 });
  b.seed("n2", a1);
  const data = wrapSnapshot({ book: b.toJSON(), kv: '{"v":1,"kv":[["a\\n",1]]}' });
  const parts = unwrapSnapshot(data);
  assert.equal(parts.kv, '{"v":1,"kv":[["a\\n",1]]}');
  const c = new MembershipBook();
  c.restore(parts.book);
  assert.deepEqual(c.replicated("n1"), a1);
  assert.equal(c.replicated("n2"), undefined, "seeds are local, never in snapshots");
  assert.throws(() => unwrapSnapshot('{"v":1,"kv":[]}'), /raftkv-snap/);
});
