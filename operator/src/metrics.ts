/**
 * The operator's Prometheus metrics: one Registry per OperatorMetrics (one per process in production;
 * tests running two operators in one process get two), with the default process metrics.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The operator's metric objects and the registry /metrics serves. */
export class OperatorMetrics {
  readonly registry: Registry;
  /** Reconcile passes by result: success, requeue (asked to run again later) or error. */
  readonly reconcileTotal: Counter<"result">;
  /** Reconcile passes that threw. */
  readonly reconcileErrorsTotal: Counter;
  /** Duration of a reconcile pass. */
  readonly reconcileSeconds: Histogram;
  /** Raft membership steps by operation (the action kind) and result. */
  readonly membershipOperations: Counter<"operation" | "result">;
  /** 1 while this process holds the leader Lease. */
  readonly isLeader: Gauge;
  /** Keys waiting in the work queue. */
  readonly queueDepth: Gauge;
  /** Informers restarted after they stopped on an error, by resource. */
  readonly informerRestartsTotal: Counter<"resource">;

  /** Makes a fresh registry with every metric at zero. */
  constructor() {
    this.registry = new Registry();
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({
      name: "raftkv_operator_reconcile_total",
      help: "Reconcile passes by result",
      labelNames: ["result"],
      registers,
    });
    this.reconcileErrorsTotal = new Counter({
      name: "raftkv_operator_reconcile_errors_total",
      help: "Reconcile passes that failed with an error",
      registers,
    });
    this.reconcileSeconds = new Histogram({
      name: "raftkv_operator_reconcile_seconds",
      help: "Duration of a reconcile pass",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.membershipOperations = new Counter({
      name: "raftkv_operator_membership_operations_total",
      help: "Raft membership operations by operation and result",
      labelNames: ["operation", "result"],
      registers,
    });
    this.isLeader = new Gauge({
      name: "raftkv_operator_is_leader",
      help: "1 while this process is the leading operator replica",
      registers,
    });
    this.queueDepth = new Gauge({
      name: "raftkv_operator_queue_depth",
      help: "Keys waiting in the work queue",
      registers,
    });
    this.informerRestartsTotal = new Counter({
      name: "raftkv_operator_informer_restarts_total",
      help: "Informers restarted after stopping on an error",
      labelNames: ["resource"],
      registers,
    });
    this.isLeader.set(0);
    this.queueDepth.set(0);
    this.reconcileErrorsTotal.inc(0);
  }
}
