/**
 * The operator's end-to-end setting for the k8s tier: a real control plane (kube-apiserver, etcd,
 * kube-controller-manager), the CRD, a namespace, the loopback pod runner standing in for kubelet and
 * DNS, and operator replicas started in this process against the API server.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { loadConfig } from "../../operator/src/config.ts";
import { createLogger } from "../../operator/src/log.ts";
import { type RunningOperator, startOperator } from "../../operator/src/operator.ts";
import type { NodeStatus } from "../../operator/src/plan/observed.ts";
import { type Condition, GROUP, PLURAL, type RaftKV, VERSION } from "../../operator/src/raftkv.ts";
import { waitFor } from "../cluster/harness.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { installRaftKVCrd } from "./install-crd.ts";
import { logTails, type PodRunner, startPodRunner } from "./pod-runner.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/** examples/raftkv.yaml. */
export const EXAMPLE_FILE = join(ROOT, "examples", "raftkv.yaml");

/** One test file's world. */
export interface OperatorWorld {
  cp: ControlPlane;
  namespace: string;
  runner: PodRunner;
  operators: RunningOperator[];
  /** Directory of the operators' logs. */
  logDir: string;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** Starts one more operator replica (leader election on, short lease). */
  startOperator(identity: string): Promise<RunningOperator>;
  /** Reads a RaftKV. */
  get(name: string): Promise<RaftKV>;
  /** Tails of the node and operator logs, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Starts everything but the operators; applies the CRD and waits until it is established. */
export async function startWorld(namespace: string): Promise<OperatorWorld> {
  const cp = await startControlPlane();
  const logDir = mkdtempSync(join(tmpdir(), "raftkv-operator-logs-"));
  const operators: RunningOperator[] = [];
  let runner: PodRunner | undefined;
  try {
    await installRaftKVCrd(cp);
    const ns = await cp.kubectl(["create", "namespace", namespace]);
    if (ns.code !== 0) throw new Error(`creating namespace failed: ${ns.stderr}`);
    runner = await startPodRunner({ kc: cp.kc, namespace });
  } catch (e) {
    await runner?.stop();
    await cp.stop();
    throw e;
  }
  const r = runner;
  const core = cp.kc.makeApiClient(CoreV1Api);
  const custom = cp.kc.makeApiClient(CustomObjectsApi);
  const logFiles: string[] = [];
  const world: OperatorWorld = {
    cp,
    namespace,
    runner: r,
    operators,
    logDir,
    core,
    custom,
    async startOperator(identity: string) {
      const file = join(logDir, `${identity}.log`);
      logFiles.push(file);
      writeFileSync(file, "");
      const logger = createLogger("debug", {}, (line) => writeFileSync(file, `${line}\n`, { flag: "a" }));
      const config = loadConfig({
        WATCH_NAMESPACE: namespace,
        POD_NAME: identity,
        LEADER_ELECTION: "true",
        LEADER_ELECTION_NAMESPACE: namespace,
        METRICS_ADDR: "127.0.0.1",
        RESYNC_SECONDS: "10",
        NODE_IMAGE: "raftkv-node:test",
      });
      const op = await startOperator({
        kc: cp.kc,
        config,
        logger,
        addressing: r.addressing,
        metricsPort: 0,
        leaseTiming: { leaseDurationMs: 4000, renewDeadlineMs: 3000, renewPeriodMs: 1000, retryPeriodMs: 500 },
      });
      operators.push(op);
      return op;
    },
    async get(name: string) {
      return (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as RaftKV;
    },
    logs() {
      const tails = logFiles.map((f) => `--- ${f}\n${readText(f).trimEnd().split("\n").slice(-40).join("\n")}`);
      return `${logTails(r, 20)}\n${tails.join("\n")}`;
    },
    async stop() {
      for (const op of operators) await op.stop().catch(() => {});
      await r.stop().catch(() => {});
      await cp.stop();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
  return world;
}

/** A log file's text; "" when it cannot be read, so a missing log never masks the real failure. */
function readText(f: string): string {
  try {
    return readFileSync(f, "utf8");
  } catch {
    return "";
  }
}

/** A condition's status and reason on a RaftKV, or undefined. */
export function condition(rkv: RaftKV, type: string): Condition | undefined {
  return rkv.status?.conditions?.find((c) => c.type === type);
}

/** Waits until `pred` holds for the RaftKV `name`; returns it. */
export async function waitForRaftKV(
  w: OperatorWorld,
  name: string,
  what: string,
  ms: number,
  pred: (r: RaftKV) => boolean,
): Promise<RaftKV> {
  try {
    return await waitFor(what, ms, async () => {
      const r = await w.get(name);
      return pred(r) ? r : undefined;
    });
  } catch (e) {
    const last = await w.get(name).catch(() => undefined);
    throw new Error(
      `${(e as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}\nlogs:\n${w.logs()}`,
    );
  }
}

/** Available=True, Progressing=False, `n` ready pods, `n` members all healthy voters (leader + followers). */
export function stableWith(n: number): (r: RaftKV) => boolean {
  return (r) =>
    r.status?.observedGeneration === r.metadata.generation &&
    condition(r, "Available")?.status === "True" &&
    condition(r, "Progressing")?.status === "False" &&
    r.status?.readyReplicas === n &&
    r.status?.members?.length === n &&
    r.status.members.every((m) => m.healthy && m.role !== "learner");
}

/** GET /status of a pod's node. */
export async function nodeStatus(w: OperatorWorld, raftkv: string, pod: string): Promise<NodeStatus> {
  const { httpUrl } = w.runner.addressing({ namespace: w.namespace, raftkv, pod });
  const res = await fetch(`${httpUrl}/status`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${pod}: /status answered ${res.status}`);
  return (await res.json()) as NodeStatus;
}
