/**
 * The k8s tier's stand-in for a scheduler + kubelet + cluster DNS: it registers a Node, binds the
 * namespace's unscheduled pods to it, runs ONE real raftkv node process per bound pod on its own loopback IP
 * (see loopback-addressing.ts, container-env.ts, pod-volumes.ts), reports pod status as a kubelet does
 * (phase, IPs, container state, restarts, readiness from the pod's readinessProbe), restarts crashed
 * processes with back-off, and deletes pods gracefully (preStop, SIGTERM, grace period, SIGKILL, final
 * delete). Everything else (StatefulSet, claims, garbage collection) is the real control plane's.
 */

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from "@kubernetes/client-node";
import type { PodAddressing } from "../../operator/src/members/pod-addressing.ts";
import type { EnvSources } from "./container-env.ts";
import { type ListWatch, listWatch } from "./list-watch.ts";
import { LoopbackAddresses } from "./loopback-addressing.ts";
import { nodeHeartbeat, registerNode } from "./loopback-node.ts";
import {
  type ContainerHost,
  type PodRec,
  preStopSleepMs,
  removeDirNow,
  removeDirOnExit,
  runContainer,
  sleep,
  stopProcess,
} from "./pod-container.ts";
import { ConditionClock, podStatus } from "./pod-status.ts";
import { claimDir, podDir, unschedulableReason } from "./pod-volumes.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const MAIN = join(ROOT, "node", "src", "main.ts");
const HOST_IP = "127.0.0.1";
/** Longest preStop sleep run in tests. */
const PRESTOP_CAP_MS = 2000;

/** One running node process. */
export interface PodProcess {
  pod: string;
  uid: string;
  pid: number;
  startedAt: string;
}

/** A running pod runner. */
export interface PodRunner {
  /** Where the operator finds each pod's node (the same loopback mapping the runner uses). */
  addressing: PodAddressing;
  /** The node processes running now. */
  processes(): PodProcess[];
  /** Sends `signal` to a pod's node process (a container crash); waits for it to exit unless SIGSTOP/SIGCONT. */
  killPod(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Directory holding one log file per pod (`<ns>_<pod>_<uid>.log`). */
  logDir: string;
  /** Kills every process, stops the watches, deletes the Node, removes the temp dir. */
  stop(): Promise<void>;
}

/** Options of startPodRunner. */
export interface PodRunnerOptions {
  kc: KubeConfig;
  namespace: string;
  nodeName?: string;
  /** Per image: "missing" never starts (default: names containing `missing` or `does-not-exist`). */
  images?: Record<string, "ok" | "missing">;
}

/** The last `lines` lines of every pod log, headed by the file name, for printing when a test fails. */
export function logTails(r: PodRunner, lines = 30): string {
  if (!existsSync(r.logDir)) return "";
  return readdirSync(r.logDir)
    .sort()
    .map((f) => {
      const text = readFileSync(join(r.logDir, f), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      return `--- ${f}\n${text}`;
    })
    .join("\n");
}

/** The Node 24 binary: this process's when it is Node 24 or newer, else the project's `node` devDependency. */
function nodeBinary(): string {
  if (Number(process.versions.node.split(".")[0]) >= 24) return process.execPath;
  const dev = join(ROOT, "node_modules", "node", "bin", "node");
  if (existsSync(dev)) return dev;
  throw new Error(`pod runner: needs Node >= 24 (this is ${process.version}); run through npm (npm ci installs it)`);
}

let runners = 0;

const isCode = (e: unknown, code: number) => (e as { code?: number } | null)?.code === code;

/** Starts the runner: registers the Node and begins watching the namespace's pods and claims. */
export async function startPodRunner(o: PodRunnerOptions): Promise<PodRunner> {
  const ns = o.namespace;
  const nodeName = o.nodeName ?? "loopback-node";
  const core = o.kc.makeApiClient(CoreV1Api);
  const root = mkdtempSync(join(tmpdir(), "raftkv-pods-"));
  removeDirOnExit(root);
  const logDir = join(root, "logs");
  mkdirSync(logDir);
  const addrs = new LoopbackAddresses(`${process.pid}:${runners++}`);
  const recs = new Map<string, PodRec>();
  /** `<pod name>` -> settles when the last process under that name (same IP and ports) is gone. */
  const slots = new Map<string, Promise<void>>();
  const binding = new Set<string>();
  /** Pods without a node, by uid. */
  const unbound = new Map<string, V1Pod>();
  /** The Unschedulable message last reported, by uid. */
  const unschedulable = new Map<string, string>();
  let stopped = false;

  const strategic = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
  const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (e) {
      if (isCode(e, 404)) return undefined;
      throw e;
    }
  };
  const src: EnvSources = {
    configMap: async (name) =>
      (await orUndefined(core.readNamespacedConfigMap({ name, namespace: ns })))?.data ?? undefined,
    secret: async (name) => {
      const s = await orUndefined(core.readNamespacedSecret({ name, namespace: ns }));
      if (!s) return undefined;
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    },
  };
  const readClaim = (name: string) => orUndefined(core.readNamespacedPersistentVolumeClaim({ name, namespace: ns }));

  const readySince = new Date();
  await registerNode(core, nodeName, HOST_IP, readySince);
  const heartbeat = setInterval(() => void nodeHeartbeat(core, nodeName, HOST_IP, readySince).catch(() => {}), 10_000);

  const imageMissing = (image: string) =>
    o.images?.[image] !== undefined ? o.images[image] === "missing" : /missing|does-not-exist/.test(image);

  const publish = (r: PodRec): Promise<void> => {
    r.publishing = r.publishing.then(async () => {
      if (!recs.has(r.uid)) return;
      const now = new Date().toISOString();
      const body = podStatus(r.view, { podIP: r.ip, hostIP: HOST_IP, startTime: r.startTime, now, clock: r.clock });
      const text = JSON.stringify(body);
      if (text === r.published) return;
      try {
        // The uid makes the patch fail on a newer pod of the same name (as the kubelet's status manager does).
        const patch = { metadata: { uid: r.uid }, status: body };
        await core.patchNamespacedPodStatus({ name: r.name, namespace: ns, body: patch }, strategic);
        r.published = text;
      } catch {
        // Gone or a transient failure: the periodic pass tries again.
      }
    });
    return r.publishing;
  };
  const republish = setInterval(() => {
    for (const r of recs.values()) void publish(r);
  }, 2000);
  const host: ContainerHost = {
    nodeBin: nodeBinary(),
    main: MAIN,
    namespace: ns,
    nodeName,
    hostIP: HOST_IP,
    root,
    addrs,
    src,
    readClaim,
    publish,
    imageMissing,
    stopped: () => stopped,
  };

  /** Tracks a pod bound here; its process starts once the previous pod of that name has stopped. */
  const track = (pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? "";
    const name = pod.metadata?.name ?? "";
    const c = pod.spec?.containers?.[0] as V1Container;
    const ip = addrs.ip(ns, name);
    const r: PodRec = {
      uid,
      name,
      pod,
      ip,
      log: join(logDir, `${ns}_${name}_${uid.slice(0, 8)}.log`),
      view: {
        name: c.name,
        image: c.image ?? "",
        state: { waiting: { reason: "ContainerCreating" } },
        restartCount: 0,
        ready: false,
        everStarted: false,
      },
      clock: new ConditionClock(),
      startTime: new Date().toISOString(),
      proc: undefined,
      exited: undefined,
      deleting: new AbortController(),
      terminating: false,
      done: Promise.resolve(),
      published: "",
      publishing: Promise.resolve(),
    };
    recs.set(uid, r);
    const before = slots.get(name) ?? Promise.resolve();
    r.done = before.then(async () => {
      if (r.deleting.signal.aborted || stopped) return;
      await publish(r);
      await runContainer(host, r, c);
    });
    slots.set(
      name,
      r.done.catch(() => {}),
    );
    r.done.catch((e) => process.stderr.write(`pod runner: ${name}: ${(e as Error).stack}\n`));
  };

  /** The kubelet's graceful termination, then its final delete. */
  const terminate = async (r: PodRec) => {
    r.terminating = true;
    // From here on an exit is not a crash: nothing restarts.
    r.deleting.abort();
    const graceS = r.pod.metadata?.deletionGracePeriodSeconds ?? r.pod.spec?.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.now() + graceS * 1000;
    const c = r.pod.spec?.containers?.[0];
    if (r.proc) {
      const preStopMs = Math.min(preStopSleepMs(c), PRESTOP_CAP_MS, Math.max(0, deadline - Date.now()));
      await Promise.race([sleep(preStopMs), r.exited]);
    }
    await stopProcess(r, Math.max(0, deadline - Date.now()));
    await r.done.catch(() => {});
    await r.publishing;
    await core
      .deleteNamespacedPod({
        name: r.name,
        namespace: ns,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: r.uid } },
      })
      .catch(() => {});
    forget(r);
  };

  const forget = (r: PodRec) => {
    recs.delete(r.uid);
    rmSync(podDir(root, r.uid), { recursive: true, force: true });
  };

  /** The scheduler's part: bind a pod once its claims exist and are not being deleted. */
  const schedule = async (pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? "";
    if (binding.has(uid)) return;
    binding.add(uid);
    try {
      const why = await unschedulableReason(pod, readClaim).catch((e: Error) => e.message);
      if (why !== undefined) {
        // Not yet: report it as the scheduler does (which also wakes the StatefulSet controller to recreate a
        // missing claim); the periodic pass tries again, as the scheduler's queue would.
        if (unschedulable.get(uid) !== why) {
          const cond = { type: "PodScheduled", status: "False", reason: "Unschedulable", message: why };
          const body = { metadata: { uid }, status: { conditions: [{ ...cond, lastTransitionTime: new Date() }] } };
          await core
            .patchNamespacedPodStatus({ name: pod.metadata?.name ?? "", namespace: ns, body }, strategic)
            .then(() => unschedulable.set(uid, why))
            .catch(() => {});
        }
        return;
      }
      await core
        .createNamespacedPodBinding({
          name: pod.metadata?.name ?? "",
          namespace: ns,
          body: {
            apiVersion: "v1",
            kind: "Binding",
            metadata: { name: pod.metadata?.name ?? "", uid },
            target: { apiVersion: "v1", kind: "Node", name: nodeName },
          },
        })
        .catch(() => {});
    } finally {
      binding.delete(uid);
    }
  };
  const scheduler = setInterval(() => {
    for (const pod of unbound.values()) void schedule(pod);
  }, 1000);

  const onPod = (pod: V1Pod) => {
    if (stopped) return;
    const uid = pod.metadata?.uid ?? "";
    const r = recs.get(uid);
    if (!r) {
      const phase = pod.status?.phase;
      if (phase === "Succeeded" || phase === "Failed" || !pod.spec?.containers?.length) return;
      if (!pod.spec.nodeName) {
        if (pod.metadata?.deletionTimestamp) unbound.delete(uid);
        else {
          unbound.set(uid, pod);
          void schedule(pod);
        }
        return;
      }
      unbound.delete(uid);
      if (pod.spec.nodeName !== nodeName) return;
      track(pod);
    } else {
      r.pod = pod;
    }
    const rec = recs.get(uid);
    if (rec && pod.metadata?.deletionTimestamp && !rec.terminating) void terminate(rec);
  };

  const onPodGone = (pod: V1Pod) => {
    unbound.delete(pod.metadata?.uid ?? "");
    unschedulable.delete(pod.metadata?.uid ?? "");
    const r = recs.get(pod.metadata?.uid ?? "");
    if (!r) return;
    // Force-deleted (or relisted away): no grace left.
    r.deleting.abort();
    r.proc?.kill("SIGKILL");
    void r.done.finally(() => forget(r));
  };

  const watches: ListWatch[] = [
    listWatch<V1Pod>(o.kc, `/api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns }), {
      upsert: onPod,
      remove: onPodGone,
    }),
    listWatch<V1PersistentVolumeClaim>(
      o.kc,
      `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      () => core.listNamespacedPersistentVolumeClaim({ namespace: ns }),
      {
        upsert: () => {},
        remove: (c) => {
          // The claim's data dies with it.
          rmSync(claimDir(root, ns, c.metadata?.name ?? "", c.metadata?.uid ?? ""), { recursive: true, force: true });
        },
      },
    ),
  ];

  return {
    addressing: ({ namespace, pod }) => addrs.addresses(namespace, pod),
    logDir,
    processes: () =>
      [...recs.values()].flatMap((r) =>
        r.proc?.pid !== undefined && "running" in r.view.state
          ? [{ pod: r.name, uid: r.uid, pid: r.proc.pid, startedAt: r.view.state.running.startedAt }]
          : [],
      ),
    async killPod(name, signal = "SIGKILL") {
      const r = [...recs.values()].find((x) => x.name === name && x.proc);
      if (!r?.proc) throw new Error(`pod runner: no running process for pod ${name}`);
      const exited = r.exited;
      r.proc.kill(signal);
      if (signal !== "SIGSTOP" && signal !== "SIGCONT") {
        const bound = new AbortController();
        await Promise.race([exited, sleep(15_000, bound.signal)]);
        bound.abort();
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const w of watches) w.stop();
      clearInterval(heartbeat);
      clearInterval(republish);
      clearInterval(scheduler);
      for (const r of recs.values()) r.deleting.abort();
      await Promise.all([...recs.values()].map((r) => stopProcess(r, 2000)));
      await Promise.all([...recs.values()].map((r) => r.done.catch(() => {})));
      recs.clear();
      await core.deleteNode({ name: nodeName }).catch(() => {});
      removeDirNow(root);
    },
  };
}
