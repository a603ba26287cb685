/**
 * A container's environment as the kubelet builds it (envFrom, then env in order, with `$(VAR)` expansion,
 * fieldRef, configMapKeyRef and secretKeyRef), and the pod runner's loopback rewrite of it: bind and advertise
 * the pod's loopback IP, and static PEERS in place of DNS discovery, since there is no cluster DNS.
 */

import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { DEFAULT_PORTS, splitPodName } from "./loopback-addressing.ts";

/** The kubelet's CreateContainerConfigError: a referenced ConfigMap, Secret or key is missing. */
export class ContainerConfigError extends Error {
  override name = "ContainerConfigError";
}

/** Reads ConfigMaps and Secrets (string data; Secret values decoded); undefined when the object is absent. */
export interface EnvSources {
  configMap(name: string): Promise<Record<string, string> | undefined>;
  secret(name: string): Promise<Record<string, string> | undefined>;
}

/** Kubernetes' `$(VAR)` expansion: unknown references stay as written, `$$` is a literal `$`. */
export function expandVars(input: string, vars: ReadonlyMap<string, string>): string {
  let out = "";
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c !== "$" || i + 1 >= input.length) {
      out += c;
      i++;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
    } else if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close < 0) {
        out += "$(";
        i += 2;
      } else {
        const name = input.slice(i + 2, close);
        out += vars.get(name) ?? `$(${name})`;
        i = close + 1;
      }
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/** Where the pod runs: what fieldRefs to status.podIP / status.hostIP / spec.nodeName answer. */
export interface PodPlacement {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

function fieldValue(pod: V1Pod, path: string, where: PodPlacement): string {
  const md = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) return (sub[1] === "labels" ? md.labels : md.annotations)?.[sub[2] as string] ?? "";
  const simple: Record<string, string | undefined> = {
    "metadata.name": md.name,
    "metadata.namespace": md.namespace,
    "metadata.uid": md.uid,
    "spec.nodeName": where.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
    "status.podIP": where.podIP,
    "status.podIPs": where.podIP,
    "status.hostIP": where.hostIP,
    "status.hostIPs": where.hostIP,
  };
  if (!(path in simple)) throw new ContainerConfigError(`fieldRef ${path} is not supported by the pod runner`);
  return simple[path] ?? "";
}

/** The container's environment as the kubelet gives it to the process (without service links). */
export async function containerEnv(
  pod: V1Pod,
  c: V1Container,
  src: EnvSources,
  where: PodPlacement,
): Promise<Map<string, string>> {
  const vars = new Map<string, string>();
  const load = async (kind: "ConfigMap" | "Secret", name: string, optional: boolean | undefined) => {
    const data = kind === "ConfigMap" ? await src.configMap(name) : await src.secret(name);
    if (data === undefined && !optional) throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
    return data;
  };
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = await load(from.configMapRef ? "ConfigMap" : "Secret", ref.name ?? "", ref.optional);
    for (const [k, v] of Object.entries(data ?? {})) vars.set(`${from.prefix ?? ""}${k}`, v);
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      vars.set(e.name, expandVars(e.value ?? "", vars));
      continue;
    }
    if (vf.fieldRef) {
      vars.set(e.name, fieldValue(pod, vf.fieldRef.fieldPath, where));
      continue;
    }
    const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
    if (!ref) throw new ContainerConfigError(`env ${e.name}: this valueFrom is not supported by the pod runner`);
    const kind = vf.configMapKeyRef ? "ConfigMap" : "Secret";
    const data = await load(kind, ref.name ?? "", ref.optional);
    const v = data?.[ref.key];
    if (v !== undefined) vars.set(e.name, v);
    else if (data !== undefined && !ref.optional) {
      throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${pod.metadata?.namespace}/${ref.name}`);
    }
  }
  return vars;
}

/** What the loopback rewrite needs to know about the pod. */
export interface LoopbackPlacement {
  pod: string;
  ip: string;
  /** Loopback IP of another pod of the namespace. */
  ipOf(pod: string): string;
}

/**
 * Rewrites a node's environment for loopback: binds and advertises the pod's IP on the ports the env asks
 * for, and turns DISCOVERY=dns into static PEERS of ordinals 0..BOOTSTRAP_EXPECT-1 (pod names are the ids).
 * Invalid values are left for the node to report with its own exit 2.
 */
export function loopbackEnv(
  env: ReadonlyMap<string, string>,
  at: LoopbackPlacement,
): { env: Map<string, string>; ports: { http: number; raft: number } } {
  const out = new Map(env);
  const portOf = (name: string, dflt: number) => {
    const v = out.get(name)?.trim();
    return v && /^\d+$/.test(v) ? Number(v) : dflt;
  };
  const ports = { http: portOf("HTTP_PORT", DEFAULT_PORTS.http), raft: portOf("RAFT_PORT", DEFAULT_PORTS.raft) };
  out.set("HTTP_ADDR", at.ip);
  out.set("RAFT_ADDR", at.ip);
  out.set("RAFT_ADVERTISE_ADDR", at.ip);
  out.set("HTTP_ADVERTISE_ADDR", at.ip);
  // An advertised port is the Service's; on loopback peers dial the bound port itself.
  if (out.has("RAFT_ADVERTISE_PORT")) out.set("RAFT_ADVERTISE_PORT", String(ports.raft));
  if (out.has("HTTP_ADVERTISE_PORT")) out.set("HTTP_ADVERTISE_PORT", String(ports.http));
  const expect = out.get("BOOTSTRAP_EXPECT")?.trim() ?? "";
  if (out.get("DISCOVERY")?.trim() === "dns" && out.get("DISCOVERY_SERVICE")?.trim() && /^[1-9]\d{0,2}$/.test(expect)) {
    const { set } = splitPodName(out.get("NODE_ID") ?? at.pod);
    const ids = Array.from({ length: Number(expect) }, (_, i) => `${set}-${i}`);
    const self = out.get("NODE_ID") ?? at.pod;
    // DNS mode adds a pod beyond the founders to its own peer list; static mode then counts it as expected.
    if (!ids.includes(self)) {
      ids.push(self);
      out.delete("BOOTSTRAP_EXPECT");
    }
    out.set("PEERS", ids.map((id) => `${id}@${at.ipOf(id)}:${ports.raft}`).join(","));
    out.delete("DISCOVERY");
    out.delete("DISCOVERY_SERVICE");
  }
  if (!out.has("MIN_FREE_BYTES")) out.set("MIN_FREE_BYTES", "0");
  return { env: out, ports };
}
