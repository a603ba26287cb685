/**
 * render: a RaftKV (plus what the caller decided) -> every Kubernetes object of the cluster. Pure: no
 * I/O, clock or randomness; the same input gives deep-equal output with the same key order, so a
 * server-side apply of an unchanged cluster changes nothing.
 */

import type { RaftKV } from "../raftkv.ts";
import type { Manifest } from "./manifest.ts";
import { nameProblem } from "./names.ts";
import { renderBootstrapConfig } from "./render-bootstrap-config.ts";
import { renderPdb } from "./render-pdb.ts";
import { renderSecret } from "./render-secret.ts";
import { renderServiceMonitor } from "./render-service-monitor.ts";
import { renderClientService, renderPeerService } from "./render-services.ts";
import { renderStatefulSet } from "./render-statefulset.ts";

/** What render needs besides the RaftKV: decisions and facts the caller holds. */
export interface RenderContext {
  /** StatefulSet replicas, chosen by the planner (not spec.replicas). */
  statefulSetReplicas: number;
  /** The cluster's Raft secret (the caller generates or reads it). */
  raftSecret: string;
  /** BOOTSTRAP_EXPECT for the bootstrap ConfigMap. */
  bootstrapExpect: number;
  /** Image when spec.image is absent. */
  defaultImage: string;
  /** DNS suffix of the cluster, e.g. cluster.local. */
  clusterDomain: string;
  /** Whether the cluster has the ServiceMonitor CRD. */
  serviceMonitorCrd: boolean;
  /**
   * Size for the StatefulSet's claim template when it differs from spec.storage.size: volume claim
   * templates are immutable, so after spec.storage.size grows the caller passes the existing template's
   * size (and expands the claims itself), or every apply of the StatefulSet would be refused.
   */
  claimTemplateSize?: string;
}

/** The rendered objects, split by how the reconciler writes them. */
export interface RenderedManifests {
  /** Server-side applied on every pass: StatefulSet, peer and client Services, PDB and ServiceMonitor when on. */
  applied: Manifest[];
  /** Created only when absent, never rewritten: the Secret and the bootstrap ConfigMap. */
  createOnce: Manifest[];
}

/** Every child object of `rkv`. Throws an Error with a clear message on input it cannot render. */
export function render(rkv: RaftKV, ctx: RenderContext): RenderedManifests {
  const image = rkv.spec.image ?? ctx.defaultImage;
  check(rkv, ctx, image);
  const applied: Manifest[] = [
    renderStatefulSet(rkv, {
      replicas: ctx.statefulSetReplicas,
      image,
      clusterDomain: ctx.clusterDomain,
      ...(ctx.claimTemplateSize !== undefined ? { claimTemplateSize: ctx.claimTemplateSize } : {}),
    }),
    renderPeerService(rkv),
    renderClientService(rkv),
  ];
  const pdb = renderPdb(rkv);
  if (pdb) applied.push(pdb);
  const sm = renderServiceMonitor(rkv, ctx.serviceMonitorCrd);
  if (sm) applied.push(sm);
  return { applied, createOnce: [renderSecret(rkv, ctx.raftSecret), renderBootstrapConfig(rkv, ctx.bootstrapExpect)] };
}

function check(rkv: RaftKV, ctx: RenderContext, image: string): void {
  const where = `RaftKV ${rkv.metadata.namespace}/${rkv.metadata.name}`;
  const fail = (problem: string): never => {
    throw new Error(`cannot render ${where}: ${problem}`);
  };
  const problem = nameProblem(rkv.metadata.name);
  if (problem) fail(problem);
  if (!rkv.metadata.namespace) fail("metadata.namespace is empty");
  if (!rkv.metadata.uid) fail("metadata.uid is empty (owner references need it)");
  if (!Number.isInteger(ctx.statefulSetReplicas) || ctx.statefulSetReplicas < 0) {
    fail(`statefulSetReplicas ${ctx.statefulSetReplicas} is not a non-negative integer`);
  }
  if (!Number.isInteger(ctx.bootstrapExpect) || ctx.bootstrapExpect < 1) {
    fail(`bootstrapExpect ${ctx.bootstrapExpect} is not a positive integer`);
  }
  if (!image) fail("no image: spec.image is absent and the operator has no default image");
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(ctx.clusterDomain)) {
    fail(`cluster domain "${ctx.clusterDomain}" is not a DNS name`);
  }
}
