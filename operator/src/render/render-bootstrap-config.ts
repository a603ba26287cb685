/**
 * The ConfigMap holding BOOTSTRAP_EXPECT, fixed when the cluster is created. Pods read it from here so
 * their template never depends on spec.replicas.
 */

import type { V1ConfigMap } from "@kubernetes/client-node";
import type { RaftKV } from "../raftkv.ts";
import { asManifest, childMetadata, type Manifest } from "./manifest.ts";
import { BOOTSTRAP_EXPECT_KEY, bootstrapConfigName } from "./names.ts";

/** The bootstrap ConfigMap of `rkv` with BOOTSTRAP_EXPECT = `bootstrapExpect`. */
export function renderBootstrapConfig(rkv: RaftKV, bootstrapExpect: number): Manifest {
  const cm: V1ConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: childMetadata(rkv, bootstrapConfigName(rkv)),
    data: { [BOOTSTRAP_EXPECT_KEY]: String(bootstrapExpect) },
  };
  return asManifest(cm);
}
