/**
 * The two children made once and never rewritten: the Secret with the cluster's random Raft secret, and
 * the ConfigMap with BOOTSTRAP_EXPECT (the size the cluster was created with). Pods read both at start,
 * so the pod template never depends on spec.replicas and a replica change rolls nothing.
 */

import { randomBytes } from "node:crypto";
import type { V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { createIfAbsent, readOrUndefined } from "../kube/api-error.ts";
import { apply } from "../kube/server-side-apply.ts";
import type { RaftKV } from "../raftkv.ts";
import { bootstrapConfigName, secretName } from "../render/names.ts";
import { render } from "../render/render.ts";
import type { ReconcileDeps } from "./reconcile-deps.ts";

const SECRET_KEY = "secret";
const BOOTSTRAP_KEY = "BOOTSTRAP_EXPECT";

/** The cluster's Raft secret: read it, or create it once with a fresh random value. */
export async function ensureSecret(d: ReconcileDeps, rkv: RaftKV): Promise<string> {
  const { namespace } = rkv.metadata;
  const name = secretName(rkv);
  const existing = await readOrUndefined(() => d.clients.core.readNamespacedSecret({ name, namespace }));
  const value = secretValue(existing);
  if (value) return value;
  const fresh = randomBytes(32).toString("base64url");
  const obj = rendered(d, rkv, fresh, 1).createOnce.find((o) => o.kind === "Secret") as V1Secret;
  if (existing) {
    // A Secret of ours without a usable value (edited by hand): give it one.
    await apply(d.clients, obj);
  } else {
    await createIfAbsent(() => d.clients.core.createNamespacedSecret({ namespace, body: obj }));
  }
  d.events.record(rkv, "Normal", "SecretCreated", `created the cluster's Raft secret ${name}`);
  const again = await d.clients.core.readNamespacedSecret({ name, namespace });
  const stored = secretValue(again);
  if (!stored) throw new Error(`secret ${namespace}/${name} has no "${SECRET_KEY}" key`);
  return stored;
}

/** BOOTSTRAP_EXPECT: read it, or fix it once (the StatefulSet's size if one exists, else spec.replicas). */
export async function ensureBootstrapConfig(d: ReconcileDeps, rkv: RaftKV): Promise<number> {
  const { namespace } = rkv.metadata;
  const name = bootstrapConfigName(rkv);
  const existing = await readOrUndefined(() => d.clients.core.readNamespacedConfigMap({ name, namespace }));
  const n = Number(existing?.data?.[BOOTSTRAP_KEY]);
  if (Number.isInteger(n) && n >= 1) return n;
  // A cluster whose StatefulSet already exists keeps its size as the expectation; a new one uses spec.replicas.
  const sts = await readOrUndefined(() =>
    d.clients.apps.readNamespacedStatefulSet({ name: rkv.metadata.name, namespace }),
  );
  const expect = sts?.spec?.replicas && sts.spec.replicas > 0 ? sts.spec.replicas : rkv.spec.replicas;
  const obj = rendered(d, rkv, "", expect).createOnce.find((o) => o.kind === "ConfigMap") as V1ConfigMap;
  if (existing) await apply(d.clients, obj);
  else await createIfAbsent(() => d.clients.core.createNamespacedConfigMap({ namespace, body: obj }));
  return expect;
}

/** Rendered manifests for the created-once objects (the StatefulSet size does not matter for them). */
function rendered(d: ReconcileDeps, rkv: RaftKV, raftSecret: string, bootstrapExpect: number) {
  return render(rkv, {
    statefulSetReplicas: 0,
    raftSecret,
    bootstrapExpect,
    defaultImage: d.config.nodeImage,
    clusterDomain: d.config.clusterDomain,
    serviceMonitorCrd: false,
  });
}

function secretValue(s: V1Secret | undefined): string | undefined {
  const b64 = s?.data?.[SECRET_KEY];
  const v = b64 ? Buffer.from(b64, "base64").toString("utf8") : s?.stringData?.[SECRET_KEY];
  return v && v.length >= 16 ? v : undefined;
}
