import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { ContainerConfigError, containerEnv, expandVars, loopbackEnv } from "./container-env.ts";
import { LoopbackAddresses, splitPodName } from "./loopback-addressing.ts";

const where = { podIP: "127.9.9.1", hostIP: "127.0.0.1", nodeName: "loopback-node" };
const pod: V1Pod = {
  metadata: { name: "kv-1", namespace: "ns1", uid: "u-1", labels: { app: "kv" } },
  spec: { containers: [] },
};
const src = {
  configMap: async (n: string) => (n === "cfg" ? { EXPECT: "3", OTHER: "x" } : undefined),
  secret: async (n: string) => (n === "sec" ? { token: "s3cret" } : undefined),
};

test("$(VAR) expansion follows Kubernetes: known names, $$ escapes, unknown and unclosed stay", () => {
  const vars = new Map([
    ["A", "1"],
    ["B", "two"],
  ]);
  assert.equal(expandVars("$(A)-$(B).x", vars), "1-two.x");
  assert.equal(expandVars("$(C) $$(A) $A $(A", vars), "$(C) $(A) $A $(A");
  assert.equal(expandVars("end$", vars), "end$");
});

test("env: literals, fieldRef, ConfigMap and Secret keys, in order with expansion of earlier names", async () => {
  const c: V1Container = {
    name: "node",
    envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CM_" }],
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "ADV", value: "$(POD_NAME).svc.$(POD_NAMESPACE).svc.cluster.local $(LATER)" },
      { name: "LATER", value: "l" },
      { name: "EXPECT", valueFrom: { configMapKeyRef: { name: "cfg", key: "EXPECT" } } },
      { name: "SECRET", valueFrom: { secretKeyRef: { name: "sec", key: "token" } } },
      { name: "OPT", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } },
    ],
  };
  const env = await containerEnv(pod, c, src, where);
  assert.deepEqual(Object.fromEntries(env), {
    CM_EXPECT: "3",
    CM_OTHER: "x",
    POD_NAME: "kv-1",
    POD_NAMESPACE: "ns1",
    APP: "kv",
    IP: "127.9.9.1",
    ADV: "kv-1.svc.ns1.svc.cluster.local $(LATER)",
    LATER: "l",
    EXPECT: "3",
    SECRET: "s3cret",
  });
});

test("env: a missing ConfigMap, Secret or key is a CreateContainerConfigError with the kubelet's wording", async () => {
  const one = (valueFrom: NonNullable<V1Container["env"]>[number]["valueFrom"]) =>
    containerEnv(pod, { name: "n", env: [{ name: "X", valueFrom }] }, src, where);
  await assert.rejects(one({ configMapKeyRef: { name: "gone", key: "k" } }), {
    name: "ContainerConfigError",
    message: 'configmap "gone" not found',
  });
  await assert.rejects(one({ secretKeyRef: { name: "sec", key: "nokey" } }), {
    message: "couldn't find key nokey in Secret ns1/sec",
  });
  await assert.rejects(one({ resourceFieldRef: { resource: "limits.cpu" } }), ContainerConfigError);
});

test("loopback: binds and advertises the pod IP, DNS discovery becomes static PEERS of the founders", () => {
  const addrs = new LoopbackAddresses("t");
  const ipOf = (p: string) => addrs.ip("ns1", p);
  const env = new Map([
    ["NODE_ID", "kv-1"],
    ["DISCOVERY", "dns"],
    ["DISCOVERY_SERVICE", "kv-peers.ns1.svc.cluster.local"],
    ["BOOTSTRAP_EXPECT", "3"],
    ["RAFT_ADVERTISE_ADDR", "kv-1.kv-peers.ns1.svc.cluster.local"],
  ]);
  const out = loopbackEnv(env, { pod: "kv-1", ip: ipOf("kv-1"), ipOf });
  assert.deepEqual(out.ports, { http: 11000, raft: 12000 });
  const e = Object.fromEntries(out.env);
  assert.equal(e.RAFT_ADVERTISE_ADDR, ipOf("kv-1"));
  assert.equal(e.HTTP_ADVERTISE_ADDR, ipOf("kv-1"));
  assert.equal(e.HTTP_ADDR, ipOf("kv-1"));
  assert.equal(e.RAFT_ADDR, ipOf("kv-1"));
  assert.equal(e.PEERS, [0, 1, 2].map((i) => `kv-${i}@${ipOf(`kv-${i}`)}:12000`).join(","));
  assert.equal(e.BOOTSTRAP_EXPECT, "3");
  assert.equal(e.DISCOVERY, undefined);
  assert.equal(e.DISCOVERY_SERVICE, undefined);
  assert.equal(e.MIN_FREE_BYTES, "0");
  // A pod beyond the founders lists itself too, as DNS mode does, and static mode counts PEERS.
  const late = Object.fromEntries(
    loopbackEnv(new Map([...env, ["NODE_ID", "kv-4"], ["MIN_FREE_BYTES", "1Mi"]]), {
      pod: "kv-4",
      ip: ipOf("kv-4"),
      ipOf,
    }).env,
  );
  assert.match(late.PEERS ?? "", new RegExp(`,kv-4@${ipOf("kv-4").replaceAll(".", "\\.")}:12000$`));
  assert.equal(late.BOOTSTRAP_EXPECT, undefined);
  assert.equal(late.MIN_FREE_BYTES, "1Mi");
});

test("loopback IPs: one block per namespace and set, the ordinal in the last octet, stable and unique", () => {
  const a = new LoopbackAddresses("salt");
  assert.deepEqual(splitPodName("kv-12"), { set: "kv", ordinal: 12 });
  assert.deepEqual(splitPodName("kv-012"), { set: "kv-012", ordinal: undefined });
  const ip0 = a.ip("ns", "kv-0");
  assert.match(ip0, /^127\.([1-9]\d*)\.\d+\.1$/);
  assert.equal(a.ip("ns", "kv-2"), ip0.replace(/\.1$/, ".3"));
  assert.equal(a.ip("ns", "kv-0"), ip0);
  const blocks = new Set<string>();
  for (let i = 0; i < 300; i++) blocks.add(a.ip(`ns${i}`, "kv-0"));
  assert.equal(blocks.size, 300);
  assert.deepEqual(a.addresses("ns", "kv-0"), { raftAddr: `${ip0}:12000`, httpUrl: `http://${ip0}:11000` });
});
