/** The Secret holding a RaftKV's Raft secret. The caller generates the value, so render stays pure. */

import type { V1Secret } from "@kubernetes/client-node";
import type { RaftKV } from "../raftkv.ts";
import { asManifest, childMetadata, type Manifest } from "./manifest.ts";
import { SECRET_KEY, secretName } from "./names.ts";

/** The Secret of `rkv` with `raftSecret` under key `secret` (base64 in `data`, as the API server stores it). */
export function renderSecret(rkv: RaftKV, raftSecret: string): Manifest {
  const secret: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: childMetadata(rkv, secretName(rkv)),
    type: "Opaque",
    data: { [SECRET_KEY]: Buffer.from(raftSecret, "utf8").toString("base64") },
  };
  return asManifest(secret);
}
