/**
 * Wires the operator: the health server, leader election on a Lease, and while leading a Controller
 * whose workers run the Reconciler. Losing the Lease stops the Controller (waiting for passes in flight);
 * winning it again starts a fresh one.
 */

import type { KubeConfig } from "@kubernetes/client-node";
import type { OperatorConfig } from "./config.ts";
import { Controller } from "./controller/controller.ts";
import { Reconciler } from "./controller/reconcile.ts";
import { startHealthServer } from "./health-server.ts";
import { KubeEventRecorder } from "./kube/events.ts";
import { makeClients } from "./kube/kube-clients.ts";
import { LeaderElector } from "./kube/leader-election.ts";
import type { Logger } from "./log.ts";
import { HttpMemberClient } from "./members/http-member-client.ts";
import type { MemberClient } from "./members/member-client.ts";
import type { PodAddressing } from "./members/pod-addressing.ts";
import { OperatorMetrics } from "./metrics.ts";
import { dnsAddressing } from "./render/names.ts";

/** How long losing or giving up leadership waits for reconcile passes in flight. */
const STOP_GRACE_MS = 5_000;

/** What startOperator needs; members, addressing and the port default to production values. */
export interface OperatorOptions {
  kc: KubeConfig;
  config: OperatorConfig;
  logger: Logger;
  members?: MemberClient;
  addressing?: PodAddressing;
  /** Overrides config.metricsPort (0 picks a free port). */
  metricsPort?: number;
  /** Leader election timing (tests shorten it); defaults 15 s / 10 s / 5 s / 2 s. */
  leaseTiming?: { leaseDurationMs: number; renewDeadlineMs: number; renewPeriodMs: number; retryPeriodMs: number };
}

/** A running operator. */
export interface RunningOperator {
  /** Stops reconciling (waiting for passes in flight), releases the Lease, closes the server. */
  stop(): Promise<void>;
  /** True while this process leads (always true without leader election). */
  isLeader(): boolean;
  /** True while leading with every informer synced. */
  synced(): boolean;
  metrics: OperatorMetrics;
  /** The port of /metrics, /healthz and /readyz. */
  port: number;
}

/** Starts the operator; resolves once its HTTP server listens (leading may come later). */
export async function startOperator(o: OperatorOptions): Promise<RunningOperator> {
  const { kc, config } = o;
  const logger = o.logger.child({ identity: config.identity });
  const metrics = new OperatorMetrics();
  const clients = makeClients(kc);
  const events = new KubeEventRecorder({ clients, identity: config.identity, logger });
  const reconciler = new Reconciler({
    clients,
    config,
    logger,
    events,
    metrics,
    members: o.members ?? new HttpMemberClient(),
    addressing: o.addressing ?? dnsAddressing(config.clusterDomain),
  });

  let controller: Controller | undefined;
  const startLeading = () => {
    controller = new Controller({ kc, clients, config, logger, metrics, reconcile: (k) => reconciler.reconcile(k) });
    controller.start();
  };
  const stopLeading = async () => {
    const c = controller;
    controller = undefined;
    // Bounded so SIGTERM ends within seconds; a successor cannot lead sooner than this anyway.
    await c?.stop(STOP_GRACE_MS);
  };

  const elector = config.leaderElection
    ? new LeaderElector({
        coordination: clients.coordination,
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity: config.identity,
        logger,
        metrics,
        ...o.leaseTiming,
        onStartedLeading: startLeading,
        onStoppedLeading: stopLeading,
      })
    : undefined;
  const isLeader = () => (elector ? elector.isLeader() : true);
  const synced = () => isLeader() && controller?.synced() === true;

  const health = await startHealthServer({
    host: config.metricsAddr,
    port: o.metricsPort ?? config.metricsPort,
    metrics,
    readiness: () => {
      if (!isLeader()) return { ready: true, detail: "standing by: another replica leads" };
      return synced()
        ? { ready: true, detail: "leading; informers synced" }
        : { ready: false, detail: "leading; informers not synced yet" };
    },
  });
  logger.info("operator started", {
    metrics: `${config.metricsAddr}:${health.port}`,
    leaderElection: config.leaderElection,
    watchNamespace: config.watchNamespace ?? "(all)",
  });

  if (elector) elector.start();
  else {
    metrics.isLeader.set(1);
    startLeading();
  }

  let stopping: Promise<void> | undefined;
  return {
    metrics,
    port: health.port,
    isLeader,
    synced,
    stop: () => {
      stopping ??= (async () => {
        if (elector) await elector.stop();
        else await stopLeading();
        metrics.isLeader.set(0);
        await health.close();
        logger.info("operator stopped");
      })();
      return stopping;
    },
  };
}
