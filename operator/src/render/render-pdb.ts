/** The PodDisruptionBudget of a RaftKV: voluntary evictions may never take the cluster below a quorum. */

import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { RaftKV } from "../raftkv.ts";
import { asManifest, childMetadata, type Manifest } from "./manifest.ts";
import { pdbName, selectorLabels } from "./names.ts";

/** Fewest replicas that get a PDB: 1 or 2 members tolerate no failure, so any PDB would block every drain. */
export const PDB_MIN_REPLICAS = 3;

/** Members needed for a majority of `replicas` voters. */
export function quorumOf(replicas: number): number {
  return Math.floor(replicas / 2) + 1;
}

/** The PDB of `rkv`, or undefined when it is switched off or the cluster is too small to tolerate a loss. */
export function renderPdb(rkv: RaftKV): Manifest | undefined {
  const { replicas, podDisruptionBudget } = rkv.spec;
  if (!podDisruptionBudget.enabled || replicas < PDB_MIN_REPLICAS) return undefined;
  const pdb: V1PodDisruptionBudget = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: childMetadata(rkv, pdbName(rkv)),
    spec: {
      minAvailable: quorumOf(replicas),
      selector: { matchLabels: selectorLabels(rkv) },
      // A pod that is not ready is not serving: evicting it must not be blocked by the budget.
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
  return asManifest(pdb);
}
