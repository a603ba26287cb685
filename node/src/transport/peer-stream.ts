/**
 * The append lane on one long-lived connection per peer, instead of an HTTP
 * request per batch: the connection starts as an HTTP upgrade on the peer's
 * Raft port (authenticated once, with the same headers as every Raft request),
 * then carries length-prefixed batches (stream-frames.ts). The receiver
 * answers with cumulative acknowledgements, sent at most every few
 * milliseconds, not per batch; an error frame (the status an HTTP request
 * would have had) is followed by the receiver closing the connection.
 *
 * Each batch still resolves with a status, so PeerLane's window, backoff and
 * drop rules apply unchanged. A batch not acknowledged within the timeout
 * means the connection is stuck (a partition drops packets, it does not close
 * sockets): the connection is destroyed, its batches fail, the next batch
 * reconnects.
 */

import { request } from "node:http";
import type { Socket } from "node:net";
import { splitHostPort } from "./http-client.ts";
import { encodeFrame, FrameReader } from "./stream-frames.ts";

/** The path of the upgrade request. */
export const STREAM_PATH = "/raft/v1/stream";
/** The protocol named in the Upgrade header. */
export const STREAM_PROTOCOL = "raftkv-append/1";

/** An acknowledgement frame: `ack` batches of this connection were taken; a status means the next was refused. */
export interface AckFrame {
  ack: number;
  status?: number;
  code?: string;
  error?: string;
}

/** Settings of one stream. */
export interface PeerStreamOptions {
  /** The peer's Raft address now, or undefined when unknown. */
  resolve: () => string | undefined;
  /** Authentication and identity headers of the upgrade request. */
  headers: Record<string, string>;
  /** A batch not acknowledged within this time closes the connection. */
  timeoutMs: number;
  /** Largest acknowledgement frame accepted (they are tiny; anything large is a broken peer). */
  maxFrameBytes?: number;
}

interface Pending {
  resolve: (status: number) => void;
  reject: (e: Error) => void;
  at: number;
}

/** One connection (and its successors) to a peer's append stream. */
export class PeerStream {
  readonly #o: PeerStreamOptions;
  #socket: Socket | undefined;
  #connecting = false;
  /** Frames written before the upgrade completed; flushed once it does. */
  #unsent: Buffer[] = [];
  /** Batches of the current connection not yet acknowledged, oldest first. */
  #pending: Pending[] = [];
  #acked = 0;
  #watchdog: NodeJS.Timeout | undefined;
  #closed = false;
  #corked = false;
  /** The status of the last refused upgrade (404 when the peer has no stream endpoint). */
  refusedWith: number | undefined;

  /** A stream that connects on its first batch. */
  constructor(o: PeerStreamOptions) {
    this.#o = o;
  }

  /** Batches written and not acknowledged yet. */
  get inflight(): number {
    return this.#pending.length;
  }

  /** Sends one batch (a JSON array text); resolves with 204 once taken, or the refusal's status. */
  send(body: string): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("stream closed"));
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject, at: performance.now() });
      const frame = encodeFrame(body);
      const socket = this.#socket;
      if (socket) {
        // Batches sent in one turn of the event loop leave in one write.
        if (!this.#corked) {
          this.#corked = true;
          socket.cork();
          process.nextTick(() => {
            this.#corked = false;
            socket.uncork();
          });
        }
        socket.write(frame);
      } else {
        this.#unsent.push(frame);
        if (!this.#connecting) this.#connect();
      }
      this.#watchdog ??= setInterval(() => this.#check(), Math.max(50, Math.min(1000, this.#o.timeoutMs / 4)));
      this.#watchdog.unref();
    });
  }

  /** Closes the connection; batches in flight fail. */
  close(): void {
    this.#closed = true;
    this.#teardown(new Error("stream closed"));
  }

  #connect(): void {
    const addr = this.#o.resolve();
    if (addr === undefined) {
      this.#teardown(new Error("no address known for the peer"));
      return;
    }
    let target: { host: string; port: number };
    try {
      target = splitHostPort(addr);
    } catch (e) {
      this.#teardown(e as Error);
      return;
    }
    this.#connecting = true;
    const req = request({
      host: target.host,
      port: target.port,
      method: "GET",
      path: STREAM_PATH,
      headers: { ...this.#o.headers, connection: "Upgrade", upgrade: STREAM_PROTOCOL },
      agent: false,
      timeout: this.#o.timeoutMs,
    });
    req.on("upgrade", (_res, socket, head) => {
      this.#connecting = false;
      if (this.#closed) {
        socket.destroy();
        return;
      }
      this.refusedWith = undefined;
      socket.setNoDelay(true);
      this.#socket = socket;
      const reader = new FrameReader(this.#o.maxFrameBytes ?? 1 << 16);
      const onData = (chunk: Buffer) => {
        let texts: string[];
        try {
          texts = reader.push(chunk);
        } catch (e) {
          socket.destroy(e as Error);
          return;
        }
        for (const t of texts) this.#onAck(t, socket);
      };
      socket.on("data", onData);
      socket.on("error", () => {});
      socket.on("close", () => {
        if (this.#socket === socket) this.#teardown(new Error("stream closed by the peer"));
      });
      if (head.length > 0) onData(head);
      const unsent = this.#unsent;
      this.#unsent = [];
      for (const f of unsent) socket.write(f);
    });
    req.on("response", (res) => {
      // The peer answered the upgrade with a plain HTTP status: every batch waiting gets it.
      this.#connecting = false;
      this.refusedWith = res.statusCode ?? 0;
      res.resume();
      const status = this.refusedWith;
      const pending = this.#pending;
      this.#pending = [];
      this.#unsent = [];
      for (const p of pending) p.resolve(status);
    });
    req.on("timeout", () => req.destroy(new Error("timed out connecting the stream")));
    req.on("error", (e) => {
      this.#connecting = false;
      if (this.#socket === undefined) this.#teardown(e);
    });
    req.end();
  }

  #onAck(text: string, socket: Socket): void {
    let a: AckFrame;
    try {
      a = JSON.parse(text) as AckFrame;
    } catch {
      socket.destroy(new Error("malformed acknowledgement"));
      return;
    }
    const n = typeof a.ack === "number" ? a.ack - this.#acked : -1;
    if (n < 0 || n > this.#pending.length) {
      socket.destroy(new Error("acknowledgement out of range"));
      return;
    }
    const done = this.#pending.splice(0, n);
    this.#acked = a.ack;
    for (const p of done) p.resolve(204);
    if (typeof a.status === "number") {
      // The peer closes after a refusal: batches behind it fail, the next one opens a new connection.
      const refused = this.#pending.shift();
      refused?.resolve(a.status);
      this.#teardown(new Error(`stream closed after a refused batch (HTTP ${a.status})`));
    }
  }

  /** Fails everything in flight and forgets the connection (the next batch reconnects). */
  #teardown(err: Error): void {
    const s = this.#socket;
    this.#socket = undefined;
    this.#acked = 0;
    this.#unsent = [];
    const pending = this.#pending;
    this.#pending = [];
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    s?.destroy();
    for (const p of pending) p.reject(err);
  }

  #check(): void {
    const oldest = this.#pending[0];
    if (oldest === undefined) {
      if (this.#watchdog) clearInterval(this.#watchdog);
      this.#watchdog = undefined;
      return;
    }
    if (performance.now() - oldest.at > this.#o.timeoutMs) this.#teardown(new Error("timed out"));
  }
}
