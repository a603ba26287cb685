/**
 * The controller: informers on RaftKVs and on the kinds the operator makes, each event mapped to its
 * RaftKV's key `<namespace>/<name>`; a periodic resync of every RaftKV; N workers calling reconcile
 * through the work queue (requeue when asked, per-key backoff when a pass throws). One Controller lives
 * for one term of leadership: operator.ts starts it on becoming leader and stops it on losing the Lease.
 */

import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { OperatorConfig } from "../config.ts";
import type { KubeClients } from "../kube/kube-clients.ts";
import { RestartingInformer } from "../kube/restarting-informer.ts";
import type { Logger } from "../log.ts";
import type { OperatorMetrics } from "../metrics.ts";
import { GROUP, KIND, PLURAL, VERSION } from "../raftkv.ts";
import { type Clock, systemClock, WorkQueue, type WorkQueueOptions } from "./work-queue.ts";

/** Label on every object the operator renders (StatefulSet, Services, PDB). */
export const MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=raftkv-operator";
/** Labels on the pods and claims of any RaftKV (from the pod and claim templates). */
export const MEMBER_SELECTOR = "app.kubernetes.io/name=raftkv,app.kubernetes.io/instance";
/** The label naming the RaftKV an object belongs to. */
export const INSTANCE_LABEL = "app.kubernetes.io/instance";

/** Which RaftKV a pass is about. */
export interface ReconcileKey {
  namespace: string;
  name: string;
}

/** One reconcile pass; resolves with when to run again, throws to be retried with backoff. */
export type ReconcileFn = (key: ReconcileKey) => Promise<{ requeueAfterMs?: number }>;

/** Options of a Controller. */
export interface ControllerOptions {
  kc: KubeConfig;
  clients: KubeClients;
  config: OperatorConfig;
  logger: Logger;
  metrics: OperatorMetrics;
  reconcile: ReconcileFn;
  /** Work queue backoff and clock (tests). */
  queue?: WorkQueueOptions;
  clock?: Clock;
}

/** The key `<namespace>/<name>` of a RaftKV. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Splits a key made by keyOf. */
export function parseKey(key: string): ReconcileKey {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * The key of the RaftKV an object belongs to: its controlling RaftKV owner reference, else its
 * app.kubernetes.io/instance label (pods and claims, owned by the StatefulSet). Undefined if neither.
 */
export function ownerKey(obj: KubernetesObject): string | undefined {
  const ns = obj.metadata?.namespace;
  if (!ns) return undefined;
  const ref = obj.metadata?.ownerReferences?.find((r) => r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`));
  if (ref) return keyOf(ns, ref.name);
  const instance = obj.metadata?.labels?.[INSTANCE_LABEL];
  return instance ? keyOf(ns, instance) : undefined;
}

/** Informers, queue and workers for one term of leadership. */
export class Controller {
  private readonly o: ControllerOptions;
  private readonly queue: WorkQueue;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly raftkvs: RestartingInformer<KubernetesObject>;
  private readonly informers: RestartingInformer<KubernetesObject>[];
  private workers: Promise<void>[] = [];
  private resync: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  /** Makes a stopped controller; call start(). */
  constructor(o: ControllerOptions) {
    this.o = o;
    this.clock = o.clock ?? systemClock;
    this.queue = new WorkQueue({ clock: this.clock, ...o.queue });
    this.log = o.logger.child({ component: "controller" });
    const specs = informerSpecs(o.clients, o.config.watchNamespace);
    this.informers = specs.map(
      (s) =>
        new RestartingInformer<KubernetesObject>({
          kc: o.kc,
          resource: s.resource,
          path: s.path,
          list: s.list,
          labelSelector: s.labelSelector,
          logger: this.log,
          metrics: o.metrics,
        }),
    );
    const [raftkvs, ...owned] = this.informers;
    if (!raftkvs) throw new Error("no RaftKV informer");
    this.raftkvs = raftkvs;
    // Only spec changes (a new generation) and deletions start a pass: the operator's own status writes
    // would otherwise trigger a pass that writes status again, in a loop, while clients write.
    const generations = new Map<string, number | undefined>();
    raftkvs.on("add", (obj) => {
      const { namespace, name, generation } = obj.metadata ?? {};
      if (!namespace || !name) return;
      generations.set(keyOf(namespace, name), generation);
      this.enqueue(keyOf(namespace, name));
    });
    raftkvs.on("update", (obj) => {
      const { namespace, name, generation } = obj.metadata ?? {};
      if (!namespace || !name) return;
      const key = keyOf(namespace, name);
      if (generations.has(key) && generations.get(key) === generation) return;
      generations.set(key, generation);
      this.enqueue(key);
    });
    raftkvs.on("delete", (obj) => {
      const { namespace, name } = obj.metadata ?? {};
      if (!namespace || !name) return;
      generations.delete(keyOf(namespace, name));
      this.enqueue(keyOf(namespace, name));
    });
    for (const inf of owned) {
      inf.on("change", (obj) => {
        const key = ownerKey(obj);
        if (key) this.enqueue(key);
      });
    }
  }

  /** Starts the informers, the resync timer and the workers. */
  start(): void {
    for (const inf of this.informers) inf.start();
    this.resync = setInterval(() => this.resyncAll(), this.o.config.resyncSeconds * 1000);
    for (let i = 0; i < this.o.config.workers; i++) this.workers.push(this.work(i));
    this.log.info("controller started", {
      namespace: this.o.config.watchNamespace ?? "(all)",
      workers: this.o.config.workers,
    });
  }

  /** True once every informer has listed its collection. */
  synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  /** Resolves true when synced, false after `timeoutMs`. */
  async waitForSync(timeoutMs: number): Promise<boolean> {
    const r = await Promise.all(this.informers.map((i) => i.waitForSync(timeoutMs)));
    return r.every(Boolean);
  }

  /** Keys waiting, delayed and in process (for tests and logs). */
  queueState(): { ready: number; delayed: number; inProcess: number } {
    return { ready: this.queue.len(), delayed: this.queue.delayed(), inProcess: this.queue.inProcess() };
  }

  /** Stops the informers and queue and waits (at most `graceMs`) for passes in flight to finish. */
  stop(graceMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.resync) clearInterval(this.resync);
      this.queue.shutDown();
      this.o.metrics.queueDepth.set(0);
      await Promise.all(this.informers.map((i) => i.stop()));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), graceMs);
      });
      const finished = await Promise.race([Promise.all(this.workers).then(() => true), late]);
      clearTimeout(timer);
      if (!finished) this.log.warn("reconcile passes still running after stop", { graceMs });
      this.log.info("controller stopped");
    })();
    return this.stopping;
  }

  /** Queues every RaftKV in the cache. */
  private resyncAll(): void {
    for (const r of this.raftkvs.list()) {
      const { namespace, name } = r.metadata ?? {};
      if (namespace && name) this.enqueue(keyOf(namespace, name));
    }
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.o.metrics.queueDepth.set(this.queue.len());
  }

  private async work(worker: number): Promise<void> {
    const m = this.o.metrics;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      m.queueDepth.set(this.queue.len());
      const end = m.reconcileSeconds.startTimer();
      let result = "success";
      try {
        const r = await this.o.reconcile(parseKey(key));
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined && r.requeueAfterMs >= 0) {
          result = "requeue";
          this.queue.addAfter(key, r.requeueAfterMs);
        }
      } catch (e) {
        result = "error";
        m.reconcileErrorsTotal.inc();
        const retryInMs = this.queue.backoffMs(this.queue.numRequeues(key));
        this.log.error("reconcile failed", { key, worker, error: e, retryInMs });
        this.queue.addRateLimited(key);
      } finally {
        end();
        m.reconcileTotal.inc({ result });
        this.queue.done(key);
        m.queueDepth.set(this.queue.len());
      }
    }
  }
}

/** What one informer watches. */
interface InformerSpec {
  resource: string;
  path: string;
  labelSelector?: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
}

/** The RaftKV informer first, then the owned kinds; in `namespace` or in all namespaces. */
export function informerSpecs(c: KubeClients, namespace: string | undefined): InformerSpec[] {
  const ns = (group: string) => `${group}${namespace ? `/namespaces/${namespace}` : ""}`;
  type List = InformerSpec["list"];
  const pick = (all: () => Promise<unknown>, one: (namespace: string) => Promise<unknown>): List =>
    (() => (namespace ? one(namespace) : all())) as List;
  const m = MANAGED_BY_SELECTOR;
  const p = MEMBER_SELECTOR;
  return [
    {
      resource: PLURAL,
      path: `${ns(`/apis/${GROUP}/${VERSION}`)}/${PLURAL}`,
      list: pick(
        () => c.customObjects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
        (n) =>
          c.customObjects.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: n }),
      ),
    },
    {
      resource: "statefulsets",
      path: `${ns("/apis/apps/v1")}/statefulsets`,
      labelSelector: m,
      list: pick(
        () => c.apps.listStatefulSetForAllNamespaces({ labelSelector: m }),
        (n) => c.apps.listNamespacedStatefulSet({ namespace: n, labelSelector: m }),
      ),
    },
    {
      resource: "services",
      path: `${ns("/api/v1")}/services`,
      labelSelector: m,
      list: pick(
        () => c.core.listServiceForAllNamespaces({ labelSelector: m }),
        (n) => c.core.listNamespacedService({ namespace: n, labelSelector: m }),
      ),
    },
    {
      resource: "poddisruptionbudgets",
      path: `${ns("/apis/policy/v1")}/poddisruptionbudgets`,
      labelSelector: m,
      list: pick(
        () => c.policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: m }),
        (n) => c.policy.listNamespacedPodDisruptionBudget({ namespace: n, labelSelector: m }),
      ),
    },
    {
      resource: "pods",
      path: `${ns("/api/v1")}/pods`,
      labelSelector: p,
      list: pick(
        () => c.core.listPodForAllNamespaces({ labelSelector: p }),
        (n) => c.core.listNamespacedPod({ namespace: n, labelSelector: p }),
      ),
    },
    {
      resource: "persistentvolumeclaims",
      path: `${ns("/api/v1")}/persistentvolumeclaims`,
      labelSelector: p,
      list: pick(
        () => c.core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: p }),
        (n) => c.core.listNamespacedPersistentVolumeClaim({ namespace: n, labelSelector: p }),
      ),
    },
  ];
}
