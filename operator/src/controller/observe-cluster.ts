/**
 * The reading half of a pass: the StatefulSet, its pods and claims from the API server, and every running
 * pod's GET /status through the member client, turned into the planner's Observed.
 */

import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import { readOrUndefined } from "../kube/api-error.ts";
import type { NodeAnswer, Observed } from "../plan/observed.ts";
import type { RaftKV } from "../raftkv.ts";
import { observeClaims, observePods, observeStatefulSet } from "./observe.ts";
import { labelSelectorOf, type ReconcileDeps } from "./reconcile-deps.ts";

/** Reads what a pass plans from; `claimTemplateSize` is the StatefulSet's (immutable) claim size, if any. */
export async function observeCluster(
  d: ReconcileDeps,
  rkv: RaftKV,
): Promise<{ observed: Observed; claimTemplateSize?: string }> {
  const { namespace, name } = rkv.metadata;
  const { core, apps } = d.clients;
  const labelSelector = labelSelectorOf(rkv);
  const [sts, podList, claimList] = await Promise.all([
    readOrUndefined<V1StatefulSet>(() => apps.readNamespacedStatefulSet({ name, namespace })),
    core.listNamespacedPod({ namespace, labelSelector }),
    core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
  ]);
  const ownedPods = podList.items.filter((p: V1Pod) => ownedBy(p, "StatefulSet", sts?.metadata?.uid));
  const pods = observePods(ownedPods, name);
  const claims = observeClaims(
    claimList.items.filter((c: V1PersistentVolumeClaim) => c.metadata?.name?.startsWith(`data-${name}-`)),
    name,
  );
  const nodes: Record<string, NodeAnswer> = {};
  await Promise.all(
    pods
      .filter((p) => !p.deleting && p.phase === "Running")
      .map(async (p) => {
        const { httpUrl } = d.addressing({ namespace, raftkv: name, pod: p.name });
        nodes[p.name] = await d.members.status(httpUrl);
      }),
  );
  const observed: Observed = {
    desiredReplicas: rkv.spec.replicas,
    paused: rkv.spec.paused,
    statefulSet: sts ? observeStatefulSet(sts) : undefined,
    pods,
    claims,
    nodes,
  };
  // A StatefulSet's claim template is immutable: keep the size it was created with (see expandClaims).
  const size = sts?.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === "data")?.spec?.resources?.requests
    ?.storage;
  return size === undefined ? { observed } : { observed, claimTemplateSize: String(size) };
}

function ownedBy(
  obj: { metadata?: { ownerReferences?: { kind?: string; uid?: string }[] } },
  kind: string,
  uid?: string,
) {
  return uid !== undefined && obj.metadata?.ownerReferences?.some((r) => r.kind === kind && r.uid === uid) === true;
}
