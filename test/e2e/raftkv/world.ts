/**
 * What the raftkv journeys share on the real e2e cluster: API clients, kubectl that must succeed, the
 * RaftKV and its pods, and each node's /status and /metrics reached from the host at the pod IP (the pod
 * bridge routes pod IPs to this host; no DNS of the cluster is needed here).
 */

import { AppsV1Api, CoreV1Api, CustomObjectsApi, PolicyV1Api, type V1Pod } from "@kubernetes/client-node";
import type { NodeStatus } from "../../../operator/src/plan/observed.ts";
import { type Condition, GROUP, PLURAL, type RaftKV, VERSION } from "../../../operator/src/raftkv.ts";
import type { E2ECluster } from "../cluster/cluster.ts";

/** The cluster and one namespace's clients. */
export interface World {
  cluster: E2ECluster;
  ns: string;
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  custom: CustomObjectsApi;
}

/** Clients of `cluster` for namespace `ns`. */
export function world(cluster: E2ECluster, ns: string): World {
  const kc = cluster.kc;
  return {
    cluster,
    ns,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
  };
}

/** Runs kubectl; resolves with stdout, rejects with the command and its stderr when it exits non-zero. */
export async function kubectl(w: World, args: string[], input?: string, timeoutMs = 120_000): Promise<string> {
  const r = await w.cluster.kubectl(args, { input, timeoutMs });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Polls `f` every 250 ms until it returns a value, for at most `ms`; the timeout names `what` and the last error. */
export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The RaftKV `name`. */
export async function getRkv(w: World, name: string): Promise<RaftKV> {
  return (await w.custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: w.ns,
    plural: PLURAL,
    name,
  })) as RaftKV;
}

/** A condition of a RaftKV, or undefined. */
export function condition(rkv: RaftKV, type: string): Condition | undefined {
  return rkv.status?.conditions?.find((c) => c.type === type);
}

/** Available=True, Progressing=False, `n` ready pods, `n` healthy voters: the operator has converged. */
export function stableWith(n: number): (r: RaftKV) => boolean {
  return (r) =>
    r.status?.observedGeneration === r.metadata.generation &&
    condition(r, "Available")?.status === "True" &&
    condition(r, "Progressing")?.status === "False" &&
    r.status?.readyReplicas === n &&
    r.status?.members?.length === n &&
    r.status.members.every((m) => m.healthy && m.role !== "learner");
}

/** Waits until `pred` holds for the RaftKV; the timeout carries its last status. */
export async function waitRkv(
  w: World,
  name: string,
  what: string,
  ms: number,
  pred: (r: RaftKV) => boolean,
): Promise<RaftKV> {
  try {
    return await until(what, ms, async () => {
      const r = await getRkv(w, name);
      return pred(r) ? r : undefined;
    });
  } catch (e) {
    const last = await getRkv(w, name).catch(() => undefined);
    const pods = await podSummary(w, name).catch(() => "");
    throw new Error(`${(e as Error).message}\nlast status: ${JSON.stringify(last?.status)}\npods: ${pods}`);
  }
}

/** The pods of RaftKV `name`, by name. */
export async function podsOf(w: World, name: string): Promise<V1Pod[]> {
  const list = await w.core.listNamespacedPod({
    namespace: w.ns,
    labelSelector: `app.kubernetes.io/instance=${name},app.kubernetes.io/component=node`,
  });
  return list.items.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
}

/** True when the pod's Ready condition is True. */
export function isReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** One line per pod: name, phase, ready, restarts, waiting reason: for failure messages. */
export async function podSummary(w: World, name: string): Promise<string> {
  return (await podsOf(w, name))
    .map((p) => {
      const cs = p.status?.containerStatuses?.[0];
      const waiting = cs?.state?.waiting?.reason ?? "";
      return `${p.metadata?.name} ${p.status?.phase} ready=${isReady(p)} restarts=${cs?.restartCount ?? 0} ${waiting} ${p.status?.podIP ?? ""}`;
    })
    .join("; ");
}

/** Pod name → pod IP of the running pods of `name`. */
export async function podIps(w: World, name: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const p of await podsOf(w, name)) {
    if (p.metadata?.name && p.status?.podIP && !p.metadata.deletionTimestamp) m.set(p.metadata.name, p.status.podIP);
  }
  return m;
}

/** GET http://<ip>:11000/status. */
export async function statusAt(ip: string): Promise<NodeStatus> {
  const res = await fetch(`http://${ip}:11000/status`, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`${ip}: /status answered ${res.status}`);
  return (await res.json()) as NodeStatus;
}

/** The leader as its own /status says: its pod, IP and status; throws when no pod leads. */
export async function leaderOf(w: World, name: string): Promise<{ pod: string; ip: string; status: NodeStatus }> {
  for (const [pod, ip] of await podIps(w, name)) {
    const s = await statusAt(ip).catch(() => undefined);
    if (s?.state === "leader") return { pod, ip, status: s };
  }
  throw new Error(`no pod of ${name} is leader`);
}

/** The value of a counter or gauge (summed over its series) in a node's /metrics. */
export async function metricAt(ip: string, metric: string): Promise<number> {
  const res = await fetch(`http://${ip}:11000/metrics`, { signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${metric} `) || line.startsWith(`${metric}{`)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      found = true;
    }
  }
  if (!found) throw new Error(`${ip}/metrics has no ${metric}`);
  return sum;
}

/** POST /key {key: value} at `base` (http://host:port); true when acknowledged (200). */
export async function put(base: string, key: string, value: unknown): Promise<boolean> {
  const res = await fetch(`${base}/key`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ [key]: value }),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status === 200;
}

/** GET /key/<key> at `base`: the value, or throws on any answer but 200. */
export async function read(base: string, key: string): Promise<unknown> {
  const res = await fetch(`${base}/key/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`GET ${base}/key/${key}: ${res.status} ${JSON.stringify(body)}`);
  return body[key];
}

/** The ClusterIP base URL of the client Service `<name>` (kube-proxy routes it from the host too). */
export async function serviceUrl(w: World, name: string): Promise<string> {
  const svc = await w.core.readNamespacedService({ name, namespace: w.ns });
  return `http://${svc.spec?.clusterIP}:11000`;
}

/** Events of the namespace with `reason`, oldest first, as "reason object: message". */
export async function events(w: World, reasons: string[]): Promise<{ reason: string; message: string; at: number }[]> {
  const list = await w.core.listNamespacedEvent({ namespace: w.ns });
  return list.items
    .filter((e) => reasons.includes(e.reason ?? ""))
    .map((e) => ({
      reason: e.reason ?? "",
      message: e.message ?? "",
      at: new Date(e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? 0).getTime(),
    }))
    .sort((a, b) => a.at - b.at);
}
