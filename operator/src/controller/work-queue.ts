/**
 * The controller's work queue of string keys, with client-go's guarantees: a key waits at most once
 * (add dedupes), a key being processed is never handed to a second worker (re-adds wait until done()),
 * delayed adds, and per-key exponential backoff for failures. Time comes from an injected Clock.
 */

/** A timer source; tests inject a manual one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Options of a WorkQueue. */
export interface WorkQueueOptions {
  clock?: Clock;
  /** First retry delay of a failing key (doubles per failure). */
  baseDelayMs?: number;
  /** Longest retry delay. */
  maxDelayMs?: number;
}

/** A deduplicating, delaying, rate-limited queue of keys for N workers. */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  /** Keys ready to hand out, in order. */
  private readonly queue: string[] = [];
  /** Keys that need processing (queued, or re-added while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed keys and when they become due (earliest wins). */
  private readonly waiting = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly getters: ((k: string | undefined) => void)[] = [];
  private timer: unknown;
  private timerDue = Number.POSITIVE_INFINITY;
  private shuttingDown = false;

  /** Makes an empty queue. */
  constructor(o: WorkQueueOptions = {}) {
    this.clock = o.clock ?? systemClock;
    this.baseDelayMs = o.baseDelayMs ?? 200;
    this.maxDelayMs = o.maxDelayMs ?? 60_000;
  }

  /** Queues `key` unless it already waits; a key in processing is queued again after done(). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Queues `key` after `ms` (at once when ms <= 0); of several pending delays the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + ms;
    const prev = this.waiting.get(key);
    if (prev !== undefined && prev <= due) return;
    this.waiting.set(key, due);
    this.arm();
  }

  /** Queues `key` after its backoff: baseDelay·2^failures, capped at maxDelay; counts one failure. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, this.backoffMs(n));
  }

  /** The delay the n-th consecutive failure (from 0) waits. */
  backoffMs(n: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(n, 40));
  }

  /** Clears `key`'s failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Consecutive failures counted for `key`. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Keys ready to be handed out (not counting delayed or in-process ones). */
  len(): number {
    return this.queue.length;
  }

  /** Keys delayed by addAfter / addRateLimited. */
  delayed(): number {
    return this.waiting.size;
  }

  /** Keys handed out and not yet done. */
  inProcess(): number {
    return this.processing.size;
  }

  /** True after shutDown(). */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Drops every queued and delayed key, refuses new ones, and wakes waiting get() calls with undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    this.queue.length = 0;
    this.dirty.clear();
    this.waiting.clear();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const g of this.getters.splice(0)) g(undefined);
  }

  /** Keeps one timer set for the earliest delayed key. */
  private arm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const due of this.waiting.values()) earliest = Math.min(earliest, due);
    if (earliest === this.timerDue && this.timer !== undefined) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = earliest;
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Number.POSITIVE_INFINITY;
        this.release();
      },
      Math.max(0, earliest - this.clock.now()),
    );
  }

  /** Moves due keys to the queue, earliest first. */
  private release(): void {
    const now = this.clock.now();
    const due = [...this.waiting].filter(([, t]) => t <= now).sort((a, b) => a[1] - b[1]);
    for (const [k] of due) {
      this.waiting.delete(k);
      this.add(k);
    }
    this.arm();
  }
}
