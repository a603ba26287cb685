/**
 * The operator wired together (startOperator, and the raftkv-operator process) against a real API server:
 * of two replicas one leads and the other stands by, both ready; /healthz, /readyz and /metrics answer;
 * stopping the leader hands over; the process exits 0 on SIGTERM within seconds, releasing its Lease.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api } from "@kubernetes/client-node";
import type { OperatorConfig } from "../../operator/src/config.ts";
import { silentLogger } from "../../operator/src/log.ts";
import { type RunningOperator, startOperator } from "../../operator/src/operator.ts";
import { freePort } from "../cluster/harness.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";
import { installRaftKVCrd } from "./install-crd.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, renewPeriodMs: 500, retryPeriodMs: 250 };
let cp: ControlPlane;

const config = (identity: string, leaderElectionId: string): OperatorConfig => ({
  watchNamespace: undefined,
  nodeImage: "raftkv-node:test",
  clusterDomain: "cluster.local",
  metricsAddr: "127.0.0.1",
  metricsPort: 0,
  leaderElection: true,
  leaderElectionNamespace: "default",
  leaderElectionId,
  identity,
  resyncSeconds: 30,
  workers: 2,
  logLevel: "error",
});

async function until(what: string, ms: number, f: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: r.status, body: await r.text() };
}

describe("the operator process", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      await installRaftKVCrd(cp);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("two replicas: one leads, the other stands by; both ready; stopping the leader hands over", async (t) => {
    const ops = new Map<string, RunningOperator>();
    t.after(async () => {
      await Promise.all([...ops.values()].map((o) => o.stop()));
    });
    for (const id of ["op-a", "op-b"]) {
      ops.set(
        id,
        await startOperator({ kc: cp.kc, config: config(id, "pair"), logger: silentLogger, leaseTiming: TIMING }),
      );
    }
    const leaderOf = () => [...ops].filter(([, o]) => o.isLeader()).map(([id]) => id);
    await until("one leader", 10_000, () => leaderOf().length === 1);
    const [leader = ""] = leaderOf();
    const standby = leader === "op-a" ? "op-b" : "op-a";
    const L = ops.get(leader) as RunningOperator;
    const S = ops.get(standby) as RunningOperator;
    await until("the leader's informers to sync", 20_000, () => L.synced());

    assert.deepEqual(await get(L.port, "/healthz"), { status: 200, body: "ok\n" });
    assert.equal((await get(L.port, "/readyz")).status, 200);
    const standing = await get(S.port, "/readyz");
    assert.equal(standing.status, 200);
    assert.match(standing.body, /standing by/);
    assert.equal((await get(S.port, "/nope")).status, 404);

    const lm = (await get(L.port, "/metrics")).body;
    const sm = (await get(S.port, "/metrics")).body;
    assert.match(lm, /^raftkv_operator_is_leader 1$/m);
    assert.match(sm, /^raftkv_operator_is_leader 0$/m);
    for (const name of [
      "raftkv_operator_reconcile_total",
      "raftkv_operator_reconcile_errors_total",
      "raftkv_operator_reconcile_seconds",
      "raftkv_operator_membership_operations_total",
      "raftkv_operator_queue_depth",
      "raftkv_operator_informer_restarts_total",
      "process_cpu_user_seconds_total",
    ]) {
      assert.match(lm, new RegExp(`^# TYPE ${name} `, "m"), name);
    }

    const stopped = Date.now();
    await L.stop();
    ops.delete(leader);
    await assert.rejects(get(L.port, "/healthz"), "the stopped operator's server is closed");
    await until("the standby to lead", TIMING.leaseDurationMs + 2000, () => S.isLeader());
    assert.ok(Date.now() - stopped < TIMING.leaseDurationMs, "a released Lease is taken at once");
    await until(
      "the new leader to be synced and ready",
      20_000,
      async () => (await get(S.port, "/readyz")).status === 200 && S.synced(),
    );
    assert.match((await get(S.port, "/metrics")).body, /^raftkv_operator_is_leader 1$/m);
  });

  it("logs JSON lines, becomes ready, and exits 0 on SIGTERM releasing its Lease", async (t) => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(ROOT, "operator", "src", "main.ts")], {
      env: {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: cp.kubeconfig,
        METRICS_ADDR: "127.0.0.1",
        METRICS_PORT: String(port),
        LEADER_ELECTION_NAMESPACE: "default",
        LEADER_ELECTION_ID: "main-process",
        POD_NAME: "main-proc",
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    await until("the process to be ready and leading", 30_000, async () => {
      try {
        const ready = (await get(port, "/readyz")).status === 200;
        return ready && /^raftkv_operator_is_leader 1$/m.test((await get(port, "/metrics")).body);
      } catch {
        return false;
      }
    });
    const coordination = cp.kc.makeApiClient(CoordinationV1Api);
    const held = await coordination.readNamespacedLease({ name: "main-process", namespace: "default" });
    assert.equal(held.spec?.holderIdentity, "main-proc");

    const sent = Date.now();
    child.kill("SIGTERM");
    assert.equal(await exited, 0, `stderr: ${stderr}`);
    assert.ok(Date.now() - sent < 5000, `took ${Date.now() - sent} ms to exit`);
    const released = await coordination.readNamespacedLease({ name: "main-process", namespace: "default" });
    assert.equal(released.spec?.holderIdentity ?? "", "");

    const lines = stdout.trim().split("\n");
    assert.ok(lines.length >= 3, stdout);
    for (const line of lines) {
      const o = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof o.time, "string", line);
      assert.ok(["debug", "info", "warn", "error"].includes(String(o.level)), line);
      assert.equal(typeof o.msg, "string", line);
    }
    assert.ok(
      lines.some((l) => l.includes('"became leader"')),
      stdout,
    );
    assert.ok(
      lines.some((l) => l.includes('"operator stopped"')),
      stdout,
    );
    assert.equal(stderr, "");
  });
});
