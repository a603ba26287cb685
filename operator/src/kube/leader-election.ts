/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: every write is a replace with
 * the resourceVersion last read (optimistic concurrency), a holder's lease counts as expired only after
 * this process has seen the Lease unchanged for leaseDuration on its own clock (no clock-skew trust),
 * and a leader stops leading once it has not renewed for renewDeadline (< leaseDuration), so a deposed
 * leader has stopped before anyone else can take over. stop() releases the Lease (clears the holder).
 */

import { type CoordinationV1Api, type V1Lease, V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import type { OperatorMetrics } from "../metrics.ts";
import { isNotFound, kubeCall, toKubeApiError } from "./api-error.ts";

/** Options of a LeaderElector. */
export interface LeaderElectorOptions {
  coordination: CoordinationV1Api;
  /** Where the Lease lives and its name. */
  namespace: string;
  name: string;
  /** This process (the Lease's holderIdentity); must differ between replicas. */
  identity: string;
  logger: Logger;
  metrics?: OperatorMetrics;
  /** How long others wait after the Lease last changed before taking it (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long stops leading (default 10 s; must be < leaseDuration). */
  renewDeadlineMs?: number;
  /** How often a leader renews (default 5 s). */
  renewPeriodMs?: number;
  /** How often a candidate tries, and a leader retries a failed renewal (default 2 s, jittered +20%). */
  retryPeriodMs?: number;
  /** Called when this process becomes leader. */
  onStartedLeading: () => void | Promise<void>;
  /** Called when it stops being leader (lost the Lease, or stop()); never before onStartedLeading finished. */
  onStoppedLeading: () => void | Promise<void>;
}

/** Runs for and holds a Lease until stopped. */
export class LeaderElector {
  private readonly o: LeaderElectorOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly renewPeriodMs: number;
  private readonly retryPeriodMs: number;
  private stopped = false;
  private leading = false;
  /** Leadership ends at this time unless renewed (local clock). */
  private validUntil = 0;
  /** The Lease as last read or written, and when it was first seen in that version. */
  private observed: V1Lease | undefined;
  private observedAt = 0;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Callbacks run in order, outside the renew loop so a slow one cannot delay renewals. */
  private callbacks: Promise<void> = Promise.resolve();

  /** Makes an elector; call start(). */
  constructor(o: LeaderElectorOptions) {
    this.o = o;
    this.leaseDurationMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.renewPeriodMs = o.renewPeriodMs ?? 5_000;
    this.retryPeriodMs = o.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs))
      throw new Error("renewDeadline must be shorter than leaseDuration");
    if (!(this.renewPeriodMs < this.renewDeadlineMs)) throw new Error("renewPeriod must be shorter than renewDeadline");
  }

  /** True while this process holds the Lease and its last renewal is within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() < this.validUntil;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.loop ??= this.run().catch((e: unknown) => {
      this.o.logger.error("leader election loop failed", { error: e });
    });
  }

  /** Stops campaigning; a leader calls onStoppedLeading and then releases the Lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.callbacks;
  }

  private async run(): Promise<void> {
    const log = this.o.logger.child({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
    while (!this.stopped) {
      log.info("waiting to become leader");
      while (!this.stopped) {
        const t0 = Date.now();
        if (await this.tryAcquireOrRenew(this.retryPeriodMs * 2)) {
          this.validUntil = t0 + this.renewDeadlineMs;
          break;
        }
        await this.sleep(this.retryPeriodMs * (1 + 0.2 * Math.random()));
      }
      if (this.stopped) break;
      this.leading = true;
      this.o.metrics?.isLeader.set(1);
      log.info("became leader");
      this.enqueue("onStartedLeading", this.o.onStartedLeading);

      let renewed = true;
      while (!this.stopped) {
        const period = renewed ? this.renewPeriodMs : this.retryPeriodMs;
        await this.sleep(Math.max(0, Math.min(period, this.validUntil - Date.now())));
        if (this.stopped || Date.now() >= this.validUntil) break;
        const t0 = Date.now();
        renewed = await this.tryAcquireOrRenew(this.validUntil - t0);
        if (renewed) this.validUntil = t0 + this.renewDeadlineMs;
        else log.warn("could not renew the lease", { msLeft: this.validUntil - Date.now() });
      }
      const release = this.stopped && Date.now() < this.validUntil;
      this.leading = false;
      this.o.metrics?.isLeader.set(0);
      if (!this.stopped) log.warn("lost leadership: the lease was not renewed within the deadline");
      else log.info("stopping leading");
      this.enqueue("onStoppedLeading", this.o.onStoppedLeading);
      if (release) {
        await this.callbacks;
        await this.release(log);
      }
    }
  }

  /** Reads the Lease and takes or renews it if this process may; false on any failure or refusal. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const durationS = Math.ceil(this.leaseDurationMs / 1000);
    const call = async (): Promise<boolean> => {
      let lease: V1Lease;
      try {
        lease = await kubeCall("read lease", () => this.o.coordination.readNamespacedLease({ name, namespace }));
      } catch (e) {
        if (!isNotFound(e)) throw e;
        const now = new V1MicroTime(Date.now());
        const body: V1Lease = {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationS,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        };
        this.see(await kubeCall("create lease", () => this.o.coordination.createNamespacedLease({ namespace, body })));
        return true;
      }
      this.see(lease);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const heldFor = (spec.leaseDurationSeconds ?? durationS) * 1000;
      if (holder !== "" && holder !== identity && Date.now() < this.observedAt + heldFor) return false;
      const now = new V1MicroTime(Date.now());
      const mine = holder === identity;
      const body: V1Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: durationS,
          acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
          renewTime: now,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      };
      // A stale resourceVersion makes this a 409: someone else wrote the Lease since we read it.
      this.see(
        await kubeCall("update lease", () => this.o.coordination.replaceNamespacedLease({ name, namespace, body })),
      );
      return true;
    };
    try {
      return await withTimeout(call(), timeoutMs);
    } catch (e) {
      this.o.logger.debug("lease attempt failed", { error: toKubeApiError("lease", e) });
      return false;
    }
  }

  /** Records the Lease; a new version restarts the clock others' leases are timed by. */
  private see(lease: V1Lease): void {
    if (lease.metadata?.resourceVersion !== this.observed?.metadata?.resourceVersion) this.observedAt = Date.now();
    this.observed = lease;
  }

  /** Clears holderIdentity so another replica can take over at once. */
  private async release(log: Logger): Promise<void> {
    const lease = this.observed;
    if (!lease?.spec || lease.spec.holderIdentity !== this.o.identity) return;
    const now = new V1MicroTime(Date.now());
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.o.name, namespace: this.o.namespace, resourceVersion: lease.metadata?.resourceVersion },
      spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
    };
    try {
      await withTimeout(
        this.o.coordination.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body }),
        this.retryPeriodMs * 2,
      );
      log.info("released the lease");
    } catch (e) {
      log.warn("could not release the lease; others take it when it expires", {
        error: toKubeApiError("release lease", e),
      });
    }
  }

  private enqueue(what: string, cb: () => void | Promise<void>): void {
    this.callbacks = this.callbacks.then(async () => {
      try {
        await cb();
      } catch (e) {
        this.o.logger.error(`${what} failed`, { error: e });
      }
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** Settles like `p`, or rejects after `ms` (the request itself may still complete). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms)} ms`)), Math.max(0, ms));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}
