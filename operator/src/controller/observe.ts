/**
 * Pure conversions from Kubernetes objects to the planner's view (plan/observed.ts): which ordinal a pod
 * or claim has, whether a pod is ready, deleting, on which revision, and why it cannot start.
 */

import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import type { ObservedClaim, ObservedPod, ObservedStatefulSet } from "../plan/observed.ts";

/** Waiting reasons of a container that mean it cannot start by itself (a person or a spec change must act). */
const START_FAILURES = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** The ordinal of `<prefix>-<n>`, or undefined when the name is not of that form. */
export function ordinalOf(name: string, prefix: string): number | undefined {
  if (!name.startsWith(`${prefix}-`)) return undefined;
  const rest = name.slice(prefix.length + 1);
  return /^(0|[1-9]\d{0,4})$/.test(rest) ? Number(rest) : undefined;
}

/** The StatefulSet as the planner sees it. */
export function observeStatefulSet(sts: V1StatefulSet): ObservedStatefulSet {
  return {
    replicas: sts.spec?.replicas ?? 0,
    readyReplicas: sts.status?.readyReplicas ?? 0,
    updateRevision: sts.status?.updateRevision ?? "",
  };
}

/** Pods of the StatefulSet `stsName`, by ordinal; pods of other names are ignored. */
export function observePods(pods: readonly V1Pod[], stsName: string): ObservedPod[] {
  const out: ObservedPod[] = [];
  for (const p of pods) {
    const name = p.metadata?.name ?? "";
    const ordinal = ordinalOf(name, stsName);
    if (ordinal === undefined) continue;
    const o: ObservedPod = {
      name,
      ordinal,
      phase: (p.status?.phase as ObservedPod["phase"] | undefined) ?? "Pending",
      ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
      deleting: p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null,
      revision: p.metadata?.labels?.["controller-revision-hash"] ?? "",
    };
    const failure = startFailure(p);
    if (failure) o.startFailure = failure;
    out.push(o);
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}

/** Why a pod cannot start, if it cannot: a container's waiting reason, or the scheduler's refusal. */
export function startFailure(p: V1Pod): { reason: string; message: string } | undefined {
  for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const w = c.state?.waiting;
    if (w?.reason && START_FAILURES.has(w.reason)) {
      return { reason: w.reason, message: `${c.name}: ${w.message ?? w.reason}`.slice(0, 500) };
    }
  }
  const sched = p.status?.conditions?.find((c) => c.type === "PodScheduled");
  // The scheduler briefly reports a claim the StatefulSet controller has not created yet: not a failure.
  const waitingForClaim = /persistentvolumeclaim "[^"]+" not found/.test(sched?.message ?? "");
  if (sched?.status === "False" && sched.reason === "Unschedulable" && !waitingForClaim) {
    return { reason: "Unschedulable", message: (sched.message ?? "the pod cannot be scheduled").slice(0, 500) };
  }
  return undefined;
}

/** Claims of the `data` template (`data-<sts>-<n>`). */
export function observeClaims(claims: readonly V1PersistentVolumeClaim[], stsName: string): ObservedClaim[] {
  const out: ObservedClaim[] = [];
  for (const c of claims) {
    const name = c.metadata?.name ?? "";
    const ordinal = ordinalOf(name, `data-${stsName}`);
    if (ordinal === undefined) continue;
    out.push({ name, ordinal, deleting: c.metadata?.deletionTimestamp != null });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}
