/**
 * The writing half of a pass for the children: server-side apply of the rendered manifests, removal of
 * optional children switched off (only when this RaftKV controls them), and expansion of existing claims
 * when spec.storage.size grew (a StatefulSet's claim template cannot change).
 */

import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { kubeCall, messageOf, readOrUndefined, statusOf } from "../kube/api-error.ts";
import type { KubeClients } from "../kube/kube-clients.ts";
import { apply } from "../kube/server-side-apply.ts";
import type { Plan } from "../plan/step.ts";
import type { RaftKV } from "../raftkv.ts";
import { render } from "../render/render.ts";
import { labelSelectorOf, type ReconcileDeps } from "./reconcile-deps.ts";

const SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com";

/**
 * A grown spec.storage.size cannot reach the StatefulSet's claim template (immutable), so the existing
 * claims are expanded in place; the storage class must allow expansion, or the API server says why.
 */
export async function expandClaims(
  d: ReconcileDeps,
  rkv: RaftKV,
  templateSize: string | undefined,
): Promise<string | undefined> {
  if (rkv.spec.kvStore !== "leveldb" || templateSize === undefined) return undefined;
  const want = String(rkv.spec.storage.size);
  if (want === templateSize) return undefined;
  const { namespace, name } = rkv.metadata;
  const claims = await d.clients.core.listNamespacedPersistentVolumeClaim({
    namespace,
    labelSelector: labelSelectorOf(rkv),
  });
  for (const c of claims.items) {
    const claim = c.metadata?.name ?? "";
    if (!claim.startsWith(`data-${name}-`) || c.metadata?.deletionTimestamp) continue;
    if (String(c.spec?.resources?.requests?.storage ?? "") === want) continue;
    try {
      await mergePatchClaimSize(d.clients, namespace, claim, want);
    } catch (e) {
      return `expanding claim ${claim} to ${want}: ${messageOf(e)}`;
    }
  }
  return undefined;
}

/** Server-side applies every child; removes optional children that are switched off. Returns an error text. */
export async function applyChildren(
  d: ReconcileDeps,
  rkv: RaftKV,
  plan: Plan,
  secret: string,
  bootstrapExpect: number,
  claimTemplateSize: string | undefined,
): Promise<string | undefined> {
  const smWanted = rkv.spec.metrics.serviceMonitor.enabled && (await serviceMonitorCrdExists(d));
  const manifests = render(rkv, {
    statefulSetReplicas: plan.statefulSetReplicas,
    raftSecret: secret,
    bootstrapExpect,
    defaultImage: d.config.nodeImage,
    clusterDomain: d.config.clusterDomain,
    serviceMonitorCrd: smWanted,
    ...(claimTemplateSize !== undefined ? { claimTemplateSize } : {}),
  });
  const failures: string[] = [];
  for (const obj of manifests.applied) {
    try {
      await apply(d.clients, obj);
    } catch (e) {
      failures.push(`${obj.kind} ${(obj.metadata as { name: string }).name}: ${messageOf(e)}`);
    }
  }
  const kinds = new Set(manifests.applied.map((o) => o.kind));
  const { namespace, name } = rkv.metadata;
  if (!kinds.has("PodDisruptionBudget")) {
    await deleteOwned(
      rkv,
      () => d.clients.policy.readNamespacedPodDisruptionBudget({ name, namespace }),
      () => d.clients.policy.deleteNamespacedPodDisruptionBudget({ name, namespace }),
    ).catch((e) => failures.push(`PodDisruptionBudget ${name}: ${messageOf(e)}`));
  }
  if (!kinds.has("ServiceMonitor") && (await serviceMonitorCrdExists(d))) {
    const ref = { group: "monitoring.coreos.com", version: "v1", namespace, plural: "servicemonitors", name };
    await deleteOwned(
      rkv,
      () => d.clients.customObjects.getNamespacedCustomObject(ref),
      () => d.clients.customObjects.deleteNamespacedCustomObject(ref),
    ).catch((e) => failures.push(`ServiceMonitor ${name}: ${messageOf(e)}`));
  }
  return failures.length > 0 ? failures.join("; ") : undefined;
}

async function serviceMonitorCrdExists(d: ReconcileDeps): Promise<boolean> {
  const crd = await readOrUndefined(() =>
    d.clients.apiextensions.readCustomResourceDefinition({ name: SERVICE_MONITOR_CRD }),
  ).catch(() => undefined); // no permission to read CRDs: treat as absent
  return crd !== undefined;
}

/** Deletes an object only when this RaftKV controls it. */
async function deleteOwned(rkv: RaftKV, read: () => Promise<unknown>, del: () => Promise<unknown>): Promise<void> {
  const obj = (await readOrUndefined(read)) as {
    metadata?: { ownerReferences?: { uid?: string; controller?: boolean }[] };
  };
  if (!obj?.metadata?.ownerReferences?.some((r) => r.uid === rkv.metadata.uid && r.controller)) return;
  await del().catch((e) => {
    if (statusOf(e) !== 404) throw e;
  });
}

/** Sets a claim's requested size (a merge patch: only that field). */
async function mergePatchClaimSize(clients: KubeClients, namespace: string, name: string, size: string) {
  await kubeCall(`expand claim ${namespace}/${name}`, () =>
    clients.core.patchNamespacedPersistentVolumeClaim(
      { name, namespace, body: { spec: { resources: { requests: { storage: size } } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    ),
  );
}
