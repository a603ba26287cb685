/**
 * Installs crds/raftkv.yaml on a test control plane and waits until RaftKVs are served (the CRD is
 * Established and a list of raftkvs answers), so a test can create RaftKVs right away.
 */

import { join } from "node:path";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../operator/src/raftkv.ts";
import type { ControlPlane } from "./control-plane.ts";

const CRD = join(import.meta.dirname, "..", "..", "crds", "raftkv.yaml");

/** Applies the RaftKV CRD and resolves once the API serves it; rejects after `timeoutMs`. */
export async function installRaftKVCrd(cp: ControlPlane, timeoutMs = 30_000): Promise<void> {
  const r = await cp.kubectl(["apply", "--server-side", "-f", CRD]);
  if (r.code !== 0) throw new Error(`kubectl apply ${CRD}: ${r.stderr}`);
  const custom = cp.kc.makeApiClient(CustomObjectsApi);
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
      return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the RaftKV API was not served within ${timeoutMs} ms: ${String(last)}`);
}
