/** Who the peers are: static PEERS (smallest id seeds) and DNS names of StatefulSet pods (never IPs). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, isConfigError, parseConfig } from "../../../node/src/config.ts";
import { resolvable, waitForNames } from "../../../node/src/discovery/dns-wait.ts";
import { topology } from "../../../node/src/discovery/peers.ts";
import { silentLogger } from "../../../node/src/log.ts";

function cfg(env: Record<string, string>): Config {
  const c = parseConfig(env, { hostname: "raftkv-1", resolveIPv4: () => "10.0.0.7" });
  if (isConfigError(c)) throw new Error(c.problem);
  return c;
}

test("static PEERS: the smallest id is the seed and this node advertises its PEERS address", () => {
  const env = { NODE_ID: "node2", PEERS: "node2@127.0.0.1:12002,node1@127.0.0.1:12001,node3@127.0.0.1:12003" };
  const t = topology(cfg(env), env);
  assert.equal(t.seed, "node1");
  assert.equal(t.self.raftAddr, "127.0.0.1:12002");
  assert.equal(t.self.httpUrl, "http://127.0.0.1:11000");
  assert.deepEqual(
    t.peers.map((p) => p.id),
    ["node2", "node1", "node3"],
  );
});

test("no configuration at all: a one-node cluster on the host's address", () => {
  const t = topology(cfg({}), {});
  assert.deepEqual(t.peers, [{ id: "raftkv-1", raftAddr: "10.0.0.7:12000", httpUrl: "" }]);
  assert.equal(t.seed, "raftkv-1");
});

test("DNS discovery: pods <sts>-0..N-1 under the service by name, ordinal 0 seeds", () => {
  const env = { DISCOVERY: "dns", DISCOVERY_SERVICE: "raftkv-hl.ns.svc.cluster.local", BOOTSTRAP_EXPECT: "3" };
  const t = topology(cfg(env), env);
  assert.equal(t.seed, "raftkv-0");
  assert.equal(t.self.raftAddr, "raftkv-1.raftkv-hl.ns.svc.cluster.local:12000");
  assert.equal(t.self.httpUrl, "http://raftkv-1.raftkv-hl.ns.svc.cluster.local:11000");
  assert.deepEqual(
    t.peers.map((p) => p.raftAddr),
    [0, 1, 2].map((i) => `raftkv-${i}.raftkv-hl.ns.svc.cluster.local:12000`),
  );
  assert.equal(t.derive?.("raftkv-7")?.raftAddr, "raftkv-7.raftkv-hl.ns.svc.cluster.local:12000");
  assert.throws(
    () => topology(cfg({ ...env, NODE_ID: "standalone" }), { ...env, NODE_ID: "standalone" }),
    /StatefulSet/,
  );
});

test("waiting for DNS retries until every name resolves", async () => {
  let round = 0;
  const seen = new Set(["a.svc"]);
  const lookup = async (h: string) => {
    if (!seen.has(h)) throw new Error("ENOTFOUND");
  };
  assert.deepEqual(await resolvable(["a.svc:1", "b.svc:1"], lookup), ["a.svc:1"]);
  const ok = await waitForNames(["a.svc:1", "b.svc:1"], silentLogger, new AbortController().signal, async (h) => {
    if (++round >= 3) seen.add("b.svc");
    return lookup(h);
  });
  assert.equal(ok, true);
});
