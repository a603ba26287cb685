/**
 * The pod runner's volumes, as directories under its temp dir: a PersistentVolumeClaim is
 * `claims/<ns>/<claim>-<claim uid>` (kept across pods, removed when the claim is deleted, so a claim
 * recreated under the same name starts empty), an emptyDir is `pods/<pod uid>/volumes/<name>` (gone with the
 * pod), and Secret, ConfigMap, downward API and projected volumes are written there as files (a projected
 * service-account token is left out). Container paths in the env
 * (STATE_DIR, RAFT_SECRET_FILE, ...) that fall under a mount are rewritten to the host directory.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type {
  V1Container,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Volume,
} from "@kubernetes/client-node";
import { ContainerConfigError, type EnvSources } from "./container-env.ts";

/** The key selection of a Secret or ConfigMap volume source. */
interface KeysRef {
  items?: V1KeyToPath[];
  optional?: boolean;
}

/** Reads a claim of the pod's namespace; undefined when absent. */
export type ClaimReader = (name: string) => Promise<V1PersistentVolumeClaim | undefined>;

/** Why the scheduler cannot place the pod yet (a claim missing or being deleted), or undefined. */
export async function unschedulableReason(pod: V1Pod, readClaim: ClaimReader): Promise<string | undefined> {
  for (const v of pod.spec?.volumes ?? []) {
    const name = v.persistentVolumeClaim?.claimName;
    if (!name) continue;
    const claim = await readClaim(name);
    if (!claim) return `persistentvolumeclaim "${name}" not found`;
    if (claim.metadata?.deletionTimestamp) return `persistentvolumeclaim "${name}" is being deleted`;
  }
  return undefined;
}

/** Directory of a claim's volume. */
export function claimDir(root: string, namespace: string, name: string, uid: string): string {
  return join(root, "claims", namespace, `${name}-${uid}`);
}

/** Directory of a pod's own (emptyDir, Secret, ConfigMap) volumes. */
export function podDir(root: string, uid: string): string {
  return join(root, "pods", uid);
}

/** Mounts the container's volumes: mountPath -> host directory. */
export async function mountVolumes(
  root: string,
  pod: V1Pod,
  c: V1Container,
  readClaim: ClaimReader,
  src: EnvSources,
): Promise<Map<string, string>> {
  const ns = pod.metadata?.namespace ?? "";
  const uid = pod.metadata?.uid ?? "";
  const mounts = new Map<string, string>();
  for (const m of c.volumeMounts ?? []) {
    const v = pod.spec?.volumes?.find((x) => x.name === m.name);
    if (!v) throw new ContainerConfigError(`volume "${m.name}" is not in the pod's volumes`);
    let dir: string;
    if (v.persistentVolumeClaim) {
      const claim = await readClaim(v.persistentVolumeClaim.claimName);
      if (!claim?.metadata?.uid) {
        throw new ContainerConfigError(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`);
      }
      dir = claimDir(root, ns, v.persistentVolumeClaim.claimName, claim.metadata.uid);
    } else if (v.emptyDir || v.secret || v.configMap || v.projected || v.downwardAPI) {
      dir = join(podDir(root, uid), "volumes", v.name);
    } else {
      throw new ContainerConfigError(`volume "${v.name}": the pod runner has no such volume type`);
    }
    mkdirSync(dir, { recursive: true });
    for (const [path, val] of Object.entries(await volumeFiles(pod, v, src))) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), val, { mode: 0o600 });
    }
    const host = m.subPath ? join(dir, m.subPath) : dir;
    mkdirSync(host, { recursive: true });
    mounts.set(m.mountPath.replace(/\/+$/, ""), host);
  }
  return mounts;
}

/** Files of a Secret, ConfigMap, downward API or projected volume (path -> content); none for other types. */
async function volumeFiles(pod: V1Pod, v: V1Volume, src: EnvSources): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const fromData = async (kind: "secret" | "configmap", name: string, ref: KeysRef) => {
    const data = kind === "secret" ? await src.secret(name) : await src.configMap(name);
    if (data === undefined) {
      if (ref.optional) return;
      throw new ContainerConfigError(`${kind} "${name}" for volume "${v.name}" not found`);
    }
    for (const [k, val] of Object.entries(data)) {
      const item = ref.items?.find((i) => i.key === k);
      if (!ref.items || item) out[item?.path ?? k] = val;
    }
  };
  const downward = (items: V1DownwardAPIVolumeFile[]) => {
    const md = pod.metadata ?? {};
    const fields: Record<string, string | undefined> = {
      "metadata.name": md.name,
      "metadata.namespace": md.namespace,
      "metadata.uid": md.uid,
    };
    for (const i of items) if (i.fieldRef) out[i.path] = fields[i.fieldRef.fieldPath] ?? "";
  };
  if (v.secret) await fromData("secret", v.secret.secretName ?? "", v.secret);
  if (v.configMap) await fromData("configmap", v.configMap.name ?? "", v.configMap);
  if (v.downwardAPI) downward(v.downwardAPI.items ?? []);
  // A projected service-account token is not minted: raftkv nodes never call the API.
  for (const s of v.projected?.sources ?? []) {
    if (s.secret) await fromData("secret", s.secret.name ?? "", s.secret);
    if (s.configMap) await fromData("configmap", s.configMap.name ?? "", s.configMap);
    if (s.downwardAPI) downward(s.downwardAPI.items ?? []);
  }
  return out;
}

/** Rewrites every env value that is a path under a mount to the host path. */
export function rewritePaths(env: Map<string, string>, mounts: ReadonlyMap<string, string>): void {
  for (const [k, v] of env) {
    if (!v.startsWith("/")) continue;
    for (const [mountPath, host] of mounts) {
      if (v === mountPath || v.startsWith(`${mountPath}/`)) {
        env.set(k, host + v.slice(mountPath.length));
        break;
      }
    }
  }
}
