/**
 * One pod's container as the kubelet runs it, here as a real raftkv node process: pull (or fail to), build
 * the env, start, probe readiness, and restart after an exit with back-off until the pod is deleted.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { ContainerConfigError, containerEnv, type EnvSources, loopbackEnv } from "./container-env.ts";
import type { LoopbackAddresses } from "./loopback-addressing.ts";
import type { ConditionClock, ContainerView } from "./pod-status.ts";
import { type ClaimReader, mountVolumes, podDir, rewritePaths } from "./pod-volumes.ts";

/** Crash back-off: first wait, doubling up to the cap; reset after a run this long. */
const BACKOFF = { firstMs: 1000, maxMs: 10_000, resetAfterMs: 20_000 };
const PROBE_MS = 500;

/** What the runner provides to run containers. */
export interface ContainerHost {
  nodeBin: string;
  main: string;
  namespace: string;
  nodeName: string;
  hostIP: string;
  /** The runner's temp dir (volumes live under it). */
  root: string;
  addrs: LoopbackAddresses;
  src: EnvSources;
  readClaim: ClaimReader;
  /** Posts the pod's status if it changed. */
  publish(r: PodRec): Promise<void>;
  imageMissing(image: string): boolean;
  stopped(): boolean;
}

/** What the runner tracks of one pod (by uid). */
export interface PodRec {
  uid: string;
  name: string;
  pod: V1Pod;
  ip: string;
  log: string;
  view: ContainerView;
  clock: ConditionClock;
  startTime: string;
  proc: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  /** Aborted when the pod is deleted (gracefully or not). */
  deleting: AbortController;
  terminating: boolean;
  /** Settles when the pod's process is gone for good. */
  done: Promise<void>;
  published: string;
  publishing: Promise<void>;
}

/** Every node process (and runner temp dir) in this test process, killed (removed) if it exits or is signalled. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function killLive(): void {
  for (const p of live) p.kill("SIGKILL");
  live.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killLive);
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
}

/** Removes `dir` if the test process ends before `removeDirNow(dir)`. */
export function removeDirOnExit(dir: string): void {
  hook();
  dirs.add(dir);
}

/** Removes `dir` now. */
export function removeDirNow(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

function onSignal(signal: NodeJS.Signals): void {
  killLive();
  process.removeListener(signal, onSignal);
  // Re-raise for the default action unless another cleanup hook still listens (it re-raises last).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function spawnNode(h: ContainerHost, env: Map<string, string>, log: string): ChildProcess {
  hook();
  const fd = openSync(log, "a");
  try {
    const proc = spawn(h.nodeBin, [h.main], { env: Object.fromEntries(env), stdio: ["ignore", fd, fd] });
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    proc.once("error", () => live.delete(proc));
    return proc;
  } finally {
    closeSync(fd);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Runs the pod's container until the pod is deleted or the runner stops. */
export async function runContainer(h: ContainerHost, r: PodRec, c: V1Container): Promise<void> {
  const signal = r.deleting.signal;
  let backoff = BACKOFF.firstMs;
  while (!signal.aborted && !h.stopped()) {
    if (h.imageMissing(c.image ?? "")) {
      r.view.state =
        c.imagePullPolicy === "Never"
          ? {
              waiting: {
                reason: "ErrImageNeverPull",
                message: `Container image "${c.image}" is not present with pull policy of Never`,
              },
            }
          : { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${c.image}"` } };
      await h.publish(r);
      await sleep(60 * 60_000, signal);
      return;
    }
    let env: Map<string, string>;
    try {
      env = await processEnv(h, r, c);
    } catch (e) {
      const reason = e instanceof ContainerConfigError ? "CreateContainerConfigError" : "ContainerCreating";
      r.view.state = { waiting: { reason, message: (e as Error).message } };
      await h.publish(r);
      await sleep(2000, signal);
      continue;
    }
    const started = Date.now();
    const startedAt = new Date(started).toISOString();
    const proc = spawnNode(h, env, r.log);
    r.proc = proc;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.once("exit", (code, sig) => resolve({ code, signal: sig }));
      proc.once("error", (e) => {
        appendFileSync(r.log, `pod runner: cannot start ${h.nodeBin}: ${e.message}\n`);
        resolve({ code: 128, signal: null });
      });
    });
    r.exited = exit.then(() => {});
    r.view.state = { running: { startedAt, pid: proc.pid ?? 0 } };
    r.view.everStarted = true;
    r.view.ready = false;
    await h.publish(r);
    const probing = probe(h, r, c, exit);
    const end = await exit;
    await probing;
    r.proc = undefined;
    const exitCode = end.code ?? 128 + signalNumber(end.signal);
    r.view.lastTerminated = {
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      startedAt,
      finishedAt: new Date().toISOString(),
    };
    r.view.ready = false;
    if (signal.aborted || h.stopped()) return;
    r.view.restartCount++;
    if (Date.now() - started > BACKOFF.resetAfterMs) backoff = BACKOFF.firstMs;
    r.view.state = {
      waiting: {
        reason: "CrashLoopBackOff",
        message: `back-off ${backoff / 1000}s restarting failed container=${c.name} pod=${r.name}_${h.namespace}(${r.uid})`,
      },
    };
    await h.publish(r);
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, BACKOFF.maxMs);
  }
}

async function processEnv(h: ContainerHost, r: PodRec, c: V1Container): Promise<Map<string, string>> {
  const k8sEnv = await containerEnv(r.pod, c, h.src, { podIP: r.ip, hostIP: h.hostIP, nodeName: h.nodeName });
  const { env, ports } = loopbackEnv(k8sEnv, { pod: r.name, ip: r.ip, ipOf: (p) => h.addrs.ip(h.namespace, p) });
  h.addrs.setPorts(h.namespace, r.name, ports);
  const mounts = await mountVolumes(h.root, r.pod, c, h.readClaim, h.src);
  // Without a volume, STATE_DIR is in the container's own file system, which a restart replaces.
  if (!env.has("STATE_DIR")) env.set("STATE_DIR", `/tmp/${env.get("NODE_ID") ?? r.name}`);
  mounts.set("/tmp", join(podDir(h.root, r.uid), `rootfs-${r.view.restartCount}`, "tmp"));
  rewritePaths(env, mounts);
  env.set("PATH", process.env.PATH ?? "");
  if (!env.has("HOSTNAME")) env.set("HOSTNAME", r.pod.spec?.hostname ?? r.name);
  return env;
}

/** Readiness from the pod's readinessProbe (httpGet) while the process runs; running = ready without one. */
async function probe(h: ContainerHost, r: PodRec, c: V1Container, exit: Promise<unknown>): Promise<void> {
  let running = true;
  void exit.then(() => {
    running = false;
  });
  const get = c.readinessProbe?.httpGet;
  const port =
    typeof get?.port === "number" || /^\d+$/.test(String(get?.port ?? ""))
      ? Number(get?.port)
      : c.ports?.find((p) => p.name === get?.port)?.containerPort;
  const failureThreshold = c.readinessProbe?.failureThreshold ?? 3;
  let failures = 0;
  while (running && !h.stopped()) {
    let ok = true;
    if (get) {
      try {
        const res = await fetch(`http://${r.ip}:${port}${get.path ?? "/"}`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        ok = res.status >= 200 && res.status < 400;
      } catch {
        ok = false;
      }
    }
    failures = ok ? 0 : failures + 1;
    // Ready after one success; unready after failureThreshold failures in a row.
    const ready = ok || (r.view.ready && failures < failureThreshold);
    if (running && ready !== r.view.ready) {
      r.view.ready = ready;
      await h.publish(r);
    }
    await sleep(PROBE_MS);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; settles when the process is gone (at most 10 s after the kill). */
export async function stopProcess(r: PodRec, graceMs: number): Promise<void> {
  const proc = r.proc;
  if (!proc || !r.exited) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  const bound = new AbortController();
  await Promise.race([r.exited, sleep(graceMs + 10_000, bound.signal)]);
  bound.abort();
  clearTimeout(timer);
}

/** The preStop hook's sleep: `sleep N` in an exec command, or the sleep action. */
export function preStopSleepMs(c: V1Container | undefined): number {
  const pre = c?.lifecycle?.preStop;
  if (pre?.sleep) return pre.sleep.seconds * 1000;
  const m = /(?:^|\s)sleep\s+(\d+(?:\.\d+)?)/.exec((pre?.exec?.command ?? []).join(" "));
  return m ? Number(m[1]) * 1000 : 0;
}

function signalNumber(s: NodeJS.Signals | null): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11 } as Record<string, number>)[s ?? ""] ?? 0;
}
