/**
 * What render emits: plain JSON Kubernetes objects with apiVersion, kind and a metadata that always
 * names the namespace, carries the common labels and is owned by the RaftKV.
 */

import type { KubeObject, RaftKV } from "../raftkv.ts";
import { commonLabels, ownerReference } from "./names.ts";

/** The owner reference render puts on every child. */
export type OwnerRef = ReturnType<typeof ownerReference>;

/** metadata of a rendered object. */
export interface ManifestMetadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ownerReferences: OwnerRef[];
}

/** A rendered object: a plain JSON Kubernetes object. */
export interface Manifest extends KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ManifestMetadata;
}

/** metadata of the child `name` of `rkv`, with the common labels plus `extraLabels` (the common ones win). */
export function childMetadata(rkv: RaftKV, name: string, extraLabels: Record<string, string> = {}): ManifestMetadata {
  return {
    name,
    namespace: rkv.metadata.namespace,
    labels: sortedMap({ ...extraLabels, ...commonLabels(rkv) }),
    ownerReferences: [ownerReference(rkv)],
  };
}

/** A copy of a string map with its keys in sorted order, so output does not depend on input key order. */
export function sortedMap(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k] as string;
  return out;
}

/** A typed client-node object (V1Service...) as a Manifest; the model types check the fields, JSON is emitted. */
export function asManifest(obj: { apiVersion?: string; kind?: string; metadata?: unknown }): Manifest {
  return obj as unknown as Manifest;
}
