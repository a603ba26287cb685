/**
 * One peer's queue on one lane: messages wait here, leave in batches (one
 * HTTP request carries many), with at most `maxInflight` requests
 * outstanding. Beyond `maxQueue` the oldest messages are dropped; Raft
 * tolerates loss and resends what matters. After a failure the lane backs off
 * so a dead peer costs one connection attempt per backoff period.
 */

import type { Message } from "../raft/types.ts";

/** Sends one batch (a JSON array text); resolves with the HTTP status or rejects on network failure. */
export type BatchSender = (body: string, count: number) => Promise<number>;

/** Limits of one lane. */
export interface LaneLimits {
  maxInflight: number;
  maxQueue: number;
  maxBatchBytes: number;
  maxBatchMessages: number;
}

/** Outcome hooks, for metrics and logs. */
export interface LaneHooks {
  dropped(n: number): void;
  failed(err: unknown, status: number | undefined): void;
  succeeded(): void;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

/** A bounded, batching, flow-controlled queue to one peer. */
export class PeerLane {
  #queue: Message[] = [];
  #inflight = 0;
  #backoffMs = 0;
  #blockedUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #limits: LaneLimits;
  readonly #send: BatchSender;
  readonly #hooks: LaneHooks;

  /** A lane that sends through `send`. */
  constructor(limits: LaneLimits, send: BatchSender, hooks: LaneHooks) {
    this.#limits = limits;
    this.#send = send;
    this.#hooks = hooks;
  }

  /** Messages waiting to be sent. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Requests outstanding. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Queues messages and starts sending if the window allows. */
  push(msgs: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of msgs) this.#queue.push(m);
    // A peer that is failing gets a short queue: old messages to it are useless by the time it is back.
    const limit = this.#blockedUntil > Date.now() ? Math.min(64, this.#limits.maxQueue) : this.#limits.maxQueue;
    const over = this.#queue.length - limit;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#hooks.dropped(over);
    }
    this.#pump();
  }

  /** Drops everything queued and sends nothing more. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Resolves when nothing is queued or in flight, or after `ms`. */
  async drain(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while ((this.#queue.length > 0 || this.#inflight > 0) && Date.now() < end && !this.#closed) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  #pump(): void {
    while (!this.#closed && this.#inflight < this.#limits.maxInflight && this.#queue.length > 0) {
      const wait = this.#blockedUntil - Date.now();
      if (wait > 0) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      const parts: string[] = [];
      let bytes = 2;
      let n = 0;
      while (n < this.#queue.length && n < this.#limits.maxBatchMessages) {
        const text = JSON.stringify(this.#queue[n]);
        // Always take at least one message, however large.
        if (n > 0 && bytes + text.length + 1 > this.#limits.maxBatchBytes) break;
        parts.push(text);
        bytes += text.length + 1;
        n++;
      }
      this.#queue.splice(0, n);
      this.#inflight++;
      this.#send(`[${parts.join(",")}]`, n).then(
        (status) => this.#done(status >= 200 && status < 300 ? undefined : new Error(`HTTP ${status}`), status),
        (err) => this.#done(err, undefined),
      );
    }
  }

  #done(err: unknown, status: number | undefined): void {
    this.#inflight--;
    if (err === undefined) {
      this.#backoffMs = 0;
      this.#hooks.succeeded();
    } else {
      this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2));
      this.#blockedUntil = Date.now() + this.#backoffMs;
      this.#hooks.failed(err, status);
    }
    this.#pump();
  }
}
