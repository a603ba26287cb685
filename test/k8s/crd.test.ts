/**
 * crds/raftkv.yaml on a real kube-apiserver: it is accepted and Established, the example gets every default,
 * the schema and CEL rules refuse bad RaftKVs with their messages, and kubectl's get/scale/explain work.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiextensionsV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { GROUP, KIND, PLURAL, type RaftKV, VERSION } from "../../operator/src/raftkv.ts";
import { type ControlPlane, type KubectlResult, startControlPlane } from "./control-plane.ts";

const root = join(import.meta.dirname, "..", "..");
const CRD_FILE = join(root, "crds", "raftkv.yaml");
const EXAMPLE_FILE = join(root, "examples", "raftkv.yaml");
const CRD_NAME = `${PLURAL}.${GROUP}`;
const NS = "crd-test";

/** Calls `check` every 200 ms until it returns a value other than undefined, for at most `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last = "";
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Server-side apply from stdin: fields the previous apply set and this one omits are removed. */
const APPLY = ["apply", "--server-side", "-f", "-"];

/** A RaftKV manifest for kubectl (JSON is YAML). */
function raftkv(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name }, spec });
}

describe("crds/raftkv.yaml on a real API server", { timeout: 45 * 60_000 }, () => {
  let cp: ControlPlane;
  let objects: CustomObjectsApi;

  /** kubectl in the test namespace. */
  const kubectl = (args: string[], input?: string): Promise<KubectlResult> =>
    cp.kubectl(["-n", NS, ...args], input === undefined ? {} : { input });

  /** kubectl that must succeed. */
  async function ok(args: string[], input?: string): Promise<string> {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** kubectl that the API server must refuse with a message matching `message`. */
  async function refused(args: string[], message: RegExp, input?: string): Promise<void> {
    const r = await kubectl(args, input);
    assert.notEqual(r.code, 0, `kubectl ${args.join(" ")} succeeded, but should have been refused: ${r.stdout}`);
    assert.match(r.stderr, message);
  }

  const get = async (name: string): Promise<RaftKV> =>
    (await objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: PLURAL,
      name,
    })) as RaftKV;

  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      objects = cp.kc.makeApiClient(CustomObjectsApi);
      await ok(["create", "namespace", NS]);
    },
    { timeout: 40 * 60_000 },
  );

  after(async () => {
    await cp?.stop();
  });

  it("is accepted and becomes Established", async () => {
    await ok(["apply", "--server-side", "-f", CRD_FILE]);
    const ext = cp.kc.makeApiClient(ApiextensionsV1Api);
    const conditions = await until("the CRD to be Established", 30_000, async () => {
      const crd = await ext.readCustomResourceDefinition({ name: CRD_NAME });
      const cs = crd.status?.conditions ?? [];
      return cs.some((c) => c.type === "Established" && c.status === "True") ? cs : undefined;
    });
    assert.ok(conditions.some((c) => c.type === "NamesAccepted" && c.status === "True"));
  });

  it("fills in every default of the example", async () => {
    // kubectl's discovery may lag the new resource by a moment.
    await until("kubectl to apply the example", 30_000, async () => {
      const r = await kubectl(["apply", "-f", EXAMPLE_FILE]);
      if (r.code !== 0) throw new Error(r.stderr);
      return true;
    });
    const demo = await get("demo");
    assert.equal(demo.metadata.namespace, NS);
    assert.deepEqual(demo.spec, {
      replicas: 3,
      imagePullPolicy: "IfNotPresent",
      kvStore: "leveldb",
      storage: { size: "1Gi" },
      podDisruptionBudget: { enabled: true },
      metrics: { serviceMonitor: { enabled: false, interval: "30s" } },
      paused: false,
    });
  });

  it("refuses replicas outside 1..9 with a clear message", async () => {
    for (const replicas of [0, 10]) {
      await refused(APPLY, /replicas must be between 1 and 9/, raftkv(`r${replicas}`, { replicas }));
    }
    await refused(APPLY, /spec\.replicas in body should be less than or equal to 9/, raftkv("r10", { replicas: 10 }));
  });

  it("refuses an unknown kvStore, a bad size, interval or spread constraint", async () => {
    await refused(
      APPLY,
      /spec\.kvStore: Unsupported value: "rocksdb": supported values: "leveldb", "memory"/,
      raftkv("bad-store", { kvStore: "rocksdb" }),
    );
    await refused(APPLY, /spec\.storage\.size in body should match/, raftkv("bad-size", { storage: { size: "lots" } }));
    await refused(
      APPLY,
      /spec\.metrics\.serviceMonitor\.interval in body should match/,
      raftkv("bad-interval", { metrics: { serviceMonitor: { interval: "5x" } } }),
    );
    await refused(
      APPLY,
      /spec\.topologySpreadConstraints\[0\]\.topologyKey: Required value/,
      raftkv("bad-spread", { topologySpreadConstraints: [{ maxSkew: 1, whenUnsatisfiable: "DoNotSchedule" }] }),
    );
  });

  it("keeps kvStore immutable", async () => {
    await ok(APPLY, raftkv("immutable", { kvStore: "memory" }));
    await refused(APPLY, /spec\.kvStore: .*kvStore is immutable: /, raftkv("immutable", { kvStore: "leveldb" }));
    assert.equal((await get("immutable")).spec.kvStore, "memory");
  });

  it("lets storage grow but not shrink, and keeps storageClassName", async () => {
    await ok(APPLY, raftkv("volume", { storage: { storageClassName: "standard" } }));
    assert.equal((await get("volume")).spec.storage.size, "1Gi");
    await ok(APPLY, raftkv("volume", { storage: { size: "2Gi", storageClassName: "standard" } }));
    assert.equal((await get("volume")).spec.storage.size, "2Gi");
    await refused(
      APPLY,
      /storage\.size cannot shrink/,
      raftkv("volume", { storage: { size: "1Gi", storageClassName: "standard" } }),
    );
    // Same size in other units is not a shrink; fewer bytes as a plain integer is.
    await ok(APPLY, raftkv("volume", { storage: { size: "2048Mi", storageClassName: "standard" } }));
    await refused(
      APPLY,
      /storage\.size cannot shrink/,
      raftkv("volume", { storage: { size: 2 ** 31 - 1, storageClassName: "standard" } }),
    );
    await refused(
      APPLY,
      /storage\.storageClassName is immutable/,
      raftkv("volume", { storage: { size: "2Gi", storageClassName: "fast" } }),
    );
    await refused(APPLY, /storage\.storageClassName is immutable/, raftkv("volume", { storage: { size: "2Gi" } }));
    assert.deepEqual((await get("volume")).spec.storage, { size: "2048Mi", storageClassName: "standard" });
  });

  it("refuses podLabels that would override the operator's selector labels", async () => {
    for (const label of ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"]) {
      await refused(
        APPLY,
        /podLabels cannot set app\.kubernetes\.io\/name, app\.kubernetes\.io\/instance or app\.kubernetes\.io\/component/,
        raftkv("labels", { podLabels: { team: "storage", [label]: "other" } }),
      );
    }
    await ok(APPLY, raftkv("labels", { podLabels: { team: "storage", "app.kubernetes.io/part-of": "x" } }));
  });

  it("prints the status written through the status subresource in kubectl get rkv", async () => {
    const status = {
      replicas: 3,
      readyReplicas: 2,
      selector: "app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=demo",
      leader: "demo-1",
      term: 7,
      commitIndex: 42,
      quorum: 2,
      failureTolerance: 0,
      members: [
        { id: "demo-0", pod: "demo-0", role: "follower", healthy: true, matchIndex: 42, lag: 0 },
        { id: "demo-1", pod: "demo-1", role: "leader", healthy: true, lastContact: "2026-01-01T00:00:00Z" },
        { id: "demo-2", pod: "demo-2", role: "learner", healthy: false },
      ],
      conditions: [
        {
          type: "Available",
          status: "True",
          reason: "QuorumHealthy",
          message: "2 of 3 members healthy",
          lastTransitionTime: "2026-01-01T00:00:00Z",
          observedGeneration: 1,
        },
      ],
    };
    await ok(["patch", "rkv", "demo", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);
    assert.deepEqual((await get("demo")).status, status);
    // A status sent to the main resource is dropped: only the subresource writes it.
    await ok(["patch", "rkv", "demo", "--type=merge", "-p", JSON.stringify({ status: { leader: "demo-2" } })]);
    assert.equal((await get("demo")).status?.leader, "demo-1");

    const lines = (await ok(["get", "rkv", "demo"])).trim().split("\n");
    assert.deepEqual(lines[0]?.split(/\s+/), ["NAME", "DESIRED", "READY", "LEADER", "TERM", "AVAILABLE", "AGE"]);
    assert.deepEqual(lines[1]?.split(/\s+/).slice(0, 6), ["demo", "3", "2", "demo-1", "7", "True"]);
  });

  it("scales through the scale subresource, within 1..9", async () => {
    await ok(["scale", "rkv", "demo", "--replicas=5"]);
    assert.equal((await get("demo")).spec.replicas, 5);
    await refused(["scale", "rkv", "demo", "--replicas=10"], /replicas must be between 1 and 9/);
    assert.equal((await get("demo")).spec.replicas, 5);
    const scale = JSON.parse(
      await ok(["get", "--raw", `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}/demo/scale`]),
    );
    assert.deepEqual(scale.spec, { replicas: 5 });
    assert.deepEqual(scale.status, {
      replicas: 3,
      selector: "app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=demo",
    });
  });

  it("explains its fields", async () => {
    // The published OpenAPI document catches up with a new CRD asynchronously.
    const out = await until("kubectl explain rkv.spec.replicas", 60_000, async () => {
      const r = await kubectl(["explain", "rkv.spec.replicas"]);
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.match(out, /FIELD: *replicas <integer>/);
    assert.match(out.replace(/\s+/g, " "), /Number of Raft members \(voters\), from 1 to 9\./);
    const spec = await ok(["explain", "rkv.spec.affinity"]);
    assert.match(spec.replace(/\s+/g, " "), /When absent the operator sets a soft \(preferred\) pod anti-affinity/);
  });
});
