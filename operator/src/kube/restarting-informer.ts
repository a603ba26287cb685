/**
 * An informer that does not stay down. client-node's ListWatch relists by itself after 410 Gone and
 * resumes after a watch times out, but stops for good on any other error (API server restarting,
 * connection refused, 5xx, a failed list). This wrapper restarts it after a bounded, jittered,
 * exponential backoff; the ListWatch resumes from its last resourceVersion, and a 410 on that relists.
 */

import {
  type ADD,
  CHANGE,
  type DELETE,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type ObjectCallback,
  type UPDATE,
  Watch,
} from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import type { OperatorMetrics } from "../metrics.ts";
import { toKubeApiError } from "./api-error.ts";

/** Options of a RestartingInformer. */
export interface RestartingInformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** Name for logs and the restarts metric, e.g. "statefulsets". */
  resource: string;
  /** The collection's URL path, e.g. /apis/apps/v1/namespaces/ns/statefulsets. */
  path: string;
  /** Lists the same collection with the same selectors. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  metrics?: OperatorMetrics;
  /** First restart delay (default 500 ms), doubling per consecutive failure up to maxBackoffMs (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Source of jitter in [0, 1). */
  random?: () => number;
}

/** A list-watch of one collection that restarts itself after errors until stopped. */
export class RestartingInformer<T extends KubernetesObject> {
  private readonly o: RestartingInformerOptions<T>;
  private readonly lw: ListWatch<T>;
  private started = false;
  private stopped = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];
  #synced = false;
  #restarts = 0;
  #lists = 0;

  /** Makes a stopped informer; call start(). */
  constructor(o: RestartingInformerOptions<T>) {
    this.o = o;
    const list = async () => {
      const r = await o.list();
      this.#lists++;
      this.failures = 0;
      // ListWatch stores the items synchronously once this promise settles; setImmediate runs after that.
      setImmediate(() => this.markSynced());
      return r;
    };
    this.lw = new ListWatch<T>(o.path, new Watch(o.kc), list, false, o.labelSelector, o.fieldSelector);
    this.lw.on("error", (err?: unknown) => this.onError(err));
    // Any watch event means the connection works again.
    this.lw.on(CHANGE, () => {
      this.failures = 0;
    });
  }

  /** True once the first list has been stored in the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** How many times the informer was restarted after stopping on an error. */
  get restarts(): number {
    return this.#restarts;
  }

  /** How many lists succeeded (the first, plus one per relist after 410 Gone or a restart without a resourceVersion). */
  get lists(): number {
    return this.#lists;
  }

  /** Calls `cb` for each object added, updated (new resourceVersion) or deleted; "change" is all three. */
  on(verb: typeof ADD | typeof UPDATE | typeof DELETE | typeof CHANGE, cb: ObjectCallback<T>): void {
    this.lw.on(verb, cb);
  }

  /** The cached object, if any. */
  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  /** The cached objects (of one namespace, or all). */
  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  /** Starts listing and watching; returns at once (see synced / waitForSync). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.run();
  }

  /** Resolves true once synced, false after `timeoutMs` or on stop. */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(this.#synced);
      };
      this.syncWaiters.push(done);
    });
  }

  /** Stops watching for good; no callback runs for events arriving later. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    for (const w of this.syncWaiters.splice(0)) w();
    await this.lw.stop();
  }

  private run(): void {
    // ListWatch.start reports its failures through the error callback; a rejection here would be a bug in it.
    this.lw.start().catch((e: unknown) => this.onError(e));
  }

  private markSynced(): void {
    if (this.stopped || this.#synced) return;
    this.#synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private onError(err: unknown): void {
    if (this.stopped || this.restartTimer) return;
    const min = this.o.minBackoffMs ?? 500;
    const max = this.o.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(this.failures, 30));
    // Jitter in [base/2, base) so informers that failed together do not retry together.
    const delay = Math.round(base * (0.5 + 0.5 * (this.o.random ?? Math.random)()));
    this.failures++;
    this.o.logger.warn("informer stopped on an error; restarting", {
      resource: this.o.resource,
      error: toKubeApiError(`watch ${this.o.resource}`, err),
      retryInMs: delay,
      consecutiveFailures: this.failures,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.#restarts++;
      this.o.metrics?.informerRestartsTotal.inc({ resource: this.o.resource });
      this.run();
    }, delay);
  }
}
