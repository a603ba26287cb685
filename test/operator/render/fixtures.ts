/** Builders of RaftKV objects and render contexts for the render tests. */

import type { RaftKV, RaftKVSpec } from "../../../operator/src/raftkv.ts";
import type { RenderContext } from "../../../operator/src/render/render.ts";

/** A RaftKV as the API server returns it (every CRD default set), with `spec` fields overridden. */
export function raftkv(spec: Partial<RaftKVSpec> = {}, meta: { name?: string; namespace?: string } = {}): RaftKV {
  return {
    apiVersion: "raftkv.io/v1alpha1",
    kind: "RaftKV",
    metadata: {
      name: meta.name ?? "demo",
      namespace: meta.namespace ?? "prod",
      uid: "0b6f3c9e-2d4a-4c1e-9f5a-7e2b8d1c4a90",
      generation: 1,
    },
    spec: {
      replicas: 3,
      imagePullPolicy: "IfNotPresent",
      kvStore: "leveldb",
      storage: { size: "1Gi" },
      podDisruptionBudget: { enabled: true },
      metrics: { serviceMonitor: { enabled: false, interval: "30s" } },
      paused: false,
      ...spec,
    },
  };
}

/** A render context with `over` applied. */
export function context(over: Partial<RenderContext> = {}): RenderContext {
  return {
    statefulSetReplicas: 3,
    raftSecret: "s3cret-s3cret-s3cret",
    bootstrapExpect: 3,
    defaultImage: "registry.example/raftkv:1.0.0",
    clusterDomain: "cluster.local",
    serviceMonitorCrd: false,
    ...over,
  };
}
