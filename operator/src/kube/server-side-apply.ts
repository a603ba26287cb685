/**
 * Writing objects the operator owns: server-side apply (forced, under one field manager) of rendered
 * manifests, and a RaftKV's /status by server-side apply on the status subresource, so a field the
 * operator stops setting (e.g. `leader` while there is none) is removed rather than left stale.
 */

import { type KubernetesObject, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { API_VERSION, GROUP, KIND, PLURAL, type RaftKV, type RaftKVStatus, VERSION } from "../raftkv.ts";
import { kubeCall } from "./api-error.ts";

export { KubeApiError } from "./api-error.ts";

import type { KubeClients } from "./kube-clients.ts";

/** The operator's field manager. */
export const FIELD_MANAGER = "raftkv-operator";

/** Server-side applies `obj` (force: the operator owns these fields) and returns the object as stored. Throws KubeApiError. */
export async function apply<T extends KubernetesObject>(
  clients: KubeClients,
  obj: T,
  fieldManager: string = FIELD_MANAGER,
): Promise<T> {
  // client-node fills in defaults on the object it is given; keep the caller's object as it was.
  const body = { ...obj, metadata: { ...obj.metadata } } as T;
  const what = `apply ${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
  return kubeCall(what, () =>
    clients.objects.patch(body, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply),
  );
}

/** Which RaftKV: its namespace and name, or the object itself. */
export type RaftKVRef = { namespace: string; name: string } | { metadata: { namespace: string; name: string } };

/** Sets a RaftKV's status to `status` (fields this manager set before and left out now are removed). Throws KubeApiError. */
export async function patchStatus(
  clients: KubeClients,
  ref: RaftKVRef,
  status: RaftKVStatus,
  fieldManager: string = FIELD_MANAGER,
): Promise<RaftKV> {
  const { namespace, name } = "metadata" in ref ? ref.metadata : ref;
  const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status };
  return kubeCall(
    `write status of RaftKV ${namespace}/${name}`,
    () =>
      clients.customObjects.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body, fieldManager, force: true },
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      ) as Promise<RaftKV>,
  );
}
