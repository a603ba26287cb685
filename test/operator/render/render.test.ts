import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1StatefulSet } from "@kubernetes/client-node";
import { commonLabels } from "../../../operator/src/render/names.ts";
import { type RenderContext, render } from "../../../operator/src/render/render.ts";
import { context, raftkv } from "./fixtures.ts";

const kinds = (objs: { kind: string }[]) => objs.map((o) => o.kind);
const statefulSet = (ctx: RenderContext, r = raftkv()) =>
  render(r, ctx).applied.find((o) => o.kind === "StatefulSet") as unknown as V1StatefulSet;

test("applied holds the StatefulSet and Services (+PDB, +ServiceMonitor); createOnce the Secret and ConfigMap", () => {
  const plain = render(raftkv({ podDisruptionBudget: { enabled: false } }), context());
  assert.deepEqual(kinds(plain.applied), ["StatefulSet", "Service", "Service"]);
  assert.deepEqual(kinds(plain.createOnce), ["Secret", "ConfigMap"]);

  const full = render(
    raftkv({ metrics: { serviceMonitor: { enabled: true, interval: "30s" } } }),
    context({ serviceMonitorCrd: true }),
  );
  assert.deepEqual(kinds(full.applied), ["StatefulSet", "Service", "Service", "PodDisruptionBudget", "ServiceMonitor"]);
  assert.deepEqual(
    full.applied.map((o) => o.metadata.name),
    ["demo", "demo-peers", "demo", "demo", "demo"],
  );
  assert.deepEqual(
    full.createOnce.map((o) => o.metadata.name),
    ["demo-raft", "demo-bootstrap"],
  );
});

test("every object is namespaced, labelled and controlled by the RaftKV", () => {
  const r = raftkv(
    { metrics: { serviceMonitor: { enabled: true, interval: "30s" } } },
    { name: "demo", namespace: "prod" },
  );
  const out = render(r, context({ serviceMonitorCrd: true }));
  for (const o of [...out.applied, ...out.createOnce]) {
    assert.ok(o.apiVersion && o.kind, "apiVersion and kind");
    assert.equal(o.metadata.namespace, "prod", `${o.kind} namespace`);
    for (const [k, v] of Object.entries(commonLabels(r))) assert.equal(o.metadata.labels[k], v, `${o.kind} ${k}`);
    assert.deepEqual(o.metadata.ownerReferences, [
      {
        apiVersion: "raftkv.io/v1alpha1",
        kind: "RaftKV",
        name: "demo",
        uid: r.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  }
});

test("the context reaches the objects: secret, bootstrap expectation, StatefulSet replicas, image", () => {
  const out = render(
    raftkv({ replicas: 5 }),
    context({ raftSecret: "xyz-xyz", bootstrapExpect: 1, statefulSetReplicas: 4 }),
  );
  const [secret, cm] = out.createOnce as unknown as [{ data: { secret: string } }, { data: Record<string, string> }];
  assert.equal(Buffer.from(secret.data.secret, "base64").toString(), "xyz-xyz");
  assert.deepEqual(cm.data, { BOOTSTRAP_EXPECT: "1" });
  assert.equal(statefulSet(context({ statefulSetReplicas: 4 })).spec?.replicas, 4);
  assert.equal(statefulSet(context())?.spec?.template.spec?.containers[0]?.image, "registry.example/raftkv:1.0.0");
  assert.equal(
    statefulSet(context(), raftkv({ image: "mine/raftkv:9" })).spec?.template.spec?.containers[0]?.image,
    "mine/raftkv:9",
  );
});

test("a replica change (spec or planner) changes nothing in the StatefulSet but its replicas", () => {
  const a = statefulSet(context({ statefulSetReplicas: 3 }), raftkv({ replicas: 3 }));
  const b = statefulSet(context({ statefulSetReplicas: 4 }), raftkv({ replicas: 5 }));
  assert.deepEqual({ ...b, spec: { ...b.spec, replicas: 3 } }, a);
});

test("output is deterministic: same input, deep-equal output in the same key order", () => {
  const spec = {
    podLabels: { b: "2", a: "1" },
    podAnnotations: { y: "2", x: "1" },
    nodeSelector: { zone: "a", disk: "ssd" },
    metrics: { serviceMonitor: { enabled: true, interval: "30s", labels: { z: "1", release: "p" } } },
  };
  const ctx = context({ serviceMonitorCrd: true });
  const one = render(raftkv(spec), ctx);
  const two = render(raftkv(spec), ctx);
  assert.deepEqual(one, two);
  assert.equal(JSON.stringify(one), JSON.stringify(two));
  // Maps given in another key order render identically (the API server may return them either way).
  const reordered = render(
    raftkv({
      ...spec,
      podLabels: { a: "1", b: "2" },
      podAnnotations: { x: "1", y: "2" },
      nodeSelector: { disk: "ssd", zone: "a" },
      metrics: { serviceMonitor: { enabled: true, interval: "30s", labels: { release: "p", z: "1" } } },
    }),
    ctx,
  );
  assert.equal(JSON.stringify(reordered), JSON.stringify(one));
  // Nothing undefined is emitted: what is rendered is what the JSON says.
  assert.deepEqual(JSON.parse(JSON.stringify(one)), one);
});

test("bad input gets a clear error", () => {
  assert.throws(() => render(raftkv({}, { name: "Demo" }), context()), /cannot render RaftKV prod\/Demo: name "Demo"/);
  assert.throws(() => render(raftkv({}, { name: "x".repeat(53) }), context()), /longer than 52/);
  assert.throws(() => render(raftkv(), context({ defaultImage: "" })), /no image/);
  assert.doesNotThrow(() => render(raftkv({ image: "x/y:1" }), context({ defaultImage: "" })));
  assert.throws(() => render(raftkv(), context({ bootstrapExpect: 0 })), /bootstrapExpect 0/);
  assert.throws(() => render(raftkv(), context({ statefulSetReplicas: -1 })), /statefulSetReplicas -1/);
  assert.throws(() => render(raftkv(), context({ statefulSetReplicas: 1.5 })), /statefulSetReplicas 1.5/);
  assert.throws(() => render(raftkv(), context({ clusterDomain: "bad domain" })), /cluster domain/);
  const noUid = raftkv();
  noUid.metadata.uid = "";
  assert.throws(() => render(noUid, context()), /uid/);
});
