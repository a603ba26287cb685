/**
 * The operator as the chart deploys it, run in this process: its configuration is the env of the chart's
 * Deployment (fieldRefs filled in as the kubelet would), its credentials a token of the chart's
 * ServiceAccount, so the API server's RBAC authorizer judges every call by the chart's roles. The loopback
 * pod runner stands in for the kubelet in the namespace the RaftKVs live in. Any 403 in the operator's log
 * fails a wait at once, naming the missing permission.
 */

import assert from "node:assert/strict";
import { AppsV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { loadConfig, type OperatorConfig } from "../../operator/src/config.ts";
import { createLogger } from "../../operator/src/log.ts";
import { type RunningOperator, startOperator } from "../../operator/src/operator.ts";
import { GROUP, PLURAL, type RaftKV, VERSION } from "../../operator/src/raftkv.ts";
import { waitFor } from "../cluster/harness.ts";
import type { ControlPlane } from "./control-plane.ts";
import { logTails, type PodRunner, startPodRunner } from "./pod-runner.ts";

/** Where the chart was installed and where the RaftKVs run. */
export interface ChartOperatorOptions {
  cp: ControlPlane;
  /** The Helm release (its Deployment and ServiceAccount are `<release>-raftkv-operator`). */
  release: string;
  /** The release namespace. */
  namespace: string;
  /** The namespace of the RaftKVs (the pod runner's). */
  appNamespace: string;
  /** Name of the pod runner's Node (distinct per runner). */
  nodeName: string;
}

/** A running operator under the chart's RBAC. */
export interface ChartOperator {
  config: OperatorConfig;
  /** The ServiceAccount's user name, for `kubectl auth can-i --as`. */
  user: string;
  /** The operator's log lines so far. */
  lines: string[];
  /** Log lines that report a refused call. */
  refused(): string[];
  /** Reads a RaftKV of the app namespace. */
  get(name: string): Promise<RaftKV>;
  /** Waits (at most `ms`) for `done`; fails at once on a refused call, with logs on timeout. */
  until(what: string, ms: number, done: () => Promise<boolean>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the pod runner and the operator; see the file comment. */
export async function startChartOperator(o: ChartOperatorOptions): Promise<ChartOperator> {
  const name = `${o.release}-raftkv-operator`;
  const identity = `${name}-0`;
  const saKc = new KubeConfig();
  saKc.loadFromFile(await o.cp.kubeconfigFor({ namespace: o.namespace, serviceAccount: name }));

  const d = await o.cp.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace: o.namespace });
  assert.equal(d.spec?.template.spec?.serviceAccountName, name);
  const env: Record<string, string> = {};
  for (const e of d.spec?.template.spec?.containers[0]?.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    env[e.name] = field === "metadata.name" ? identity : field === "metadata.namespace" ? o.namespace : (e.value ?? "");
  }
  env.METRICS_ADDR = "127.0.0.1"; // tests bind loopback only
  const config = loadConfig(env);

  const lines: string[] = [];
  const logger = createLogger("debug", {}, (line) => lines.push(line));
  const runner: PodRunner = await startPodRunner({ kc: o.cp.kc, namespace: o.appNamespace, nodeName: o.nodeName });
  let operator: RunningOperator;
  try {
    operator = await startOperator({
      kc: saKc,
      config,
      logger,
      addressing: runner.addressing,
      metricsPort: 0,
      leaseTiming: { leaseDurationMs: 4000, renewDeadlineMs: 3000, renewPeriodMs: 1000, retryPeriodMs: 500 },
    });
  } catch (e) {
    await runner.stop();
    throw e;
  }
  const custom = o.cp.kc.makeApiClient(CustomObjectsApi);
  const get = async (rkv: string) =>
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: o.appNamespace,
      name: rkv,
    })) as RaftKV;
  const refused = () => lines.filter((l) => /\b403\b|forbidden/i.test(l));
  let stopping: Promise<void> | undefined;
  return {
    config,
    user: `system:serviceaccount:${o.namespace}:${name}`,
    lines,
    refused,
    get,
    async until(what, ms, done) {
      try {
        await waitFor(what, ms, async () => (refused().length > 0 || (await done()) ? true : undefined));
      } catch (e) {
        throw new Error(
          `${(e as Error).message}\noperator log:\n${lines.slice(-40).join("\n")}\n${logTails(runner, 15)}`,
        );
      }
      assert.deepEqual(refused(), [], "the operator was refused API calls: the chart's RBAC lacks a permission");
    },
    stop() {
      stopping ??= (async () => {
        await operator.stop().catch(() => {});
        await runner.stop().catch(() => {});
      })();
      return stopping;
    },
  };
}
