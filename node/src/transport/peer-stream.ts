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
import { writeInTurn } from "./turn-writes.ts";

/** The path of the upgrade request. */
export const STREAM_PATH = "/raft/v1/stream";
/** The protocol named in the Upgrade header. */
export const STREAM_PROTOCOL = "raftkv-append/1";

/**
 * A frame from the receiver: an acknowledgement (`ack` batches of this connection were taken; a status
 * means the next was refused), or the answer to request `p`.
 */
export interface AckFrame {
  ack?: number;
  /** The id of the request this frame answers (then `a` is its answer, or a status its refusal). */
  p?: number;
  a?: unknown;
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

/** A request on the stream failed: `sent` is false when it never left this node (as ForwardError's). */
export class StreamRequestError extends Error {
  readonly sent: boolean;
  /** Builds the error. */
  constructor(message: string, sent: boolean) {
    super(message);
    this.sent = sent;
  }
}

/** The answer to a request frame: the handler's answer, or the refusal of the whole request. */
export type RequestAnswer = { ok: true; answer: unknown } | { ok: false; status: number; code: string; error: string };

interface Asked {
  resolve: (a: RequestAnswer) => void;
  reject: (e: StreamRequestError) => void;
  timer: NodeJS.Timeout;
  /** Written on an open connection (else still waiting for the upgrade). */
  sent: boolean;
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
  /** Requests (forwarded proposals) waiting for their answers, by id. */
  readonly #asked = new Map<number, Asked>();
  #askSeq = 0;
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
      this.#write(encodeFrame(body));
      this.#watchdog ??= setInterval(() => this.#check(), Math.max(50, Math.min(1000, this.#o.timeoutMs / 4)));
      this.#watchdog.unref();
    });
  }

  /**
   * Sends a request (forwarded proposals: `datas`, a JSON array text) and resolves with its answer.
   * Rejects with StreamRequestError after `timeoutMs` or when the connection is lost first.
   */
  ask(datas: string, timeoutMs: number): Promise<RequestAnswer> {
    if (this.#closed) return Promise.reject(new StreamRequestError("stream closed", false));
    return new Promise((resolve, reject) => {
      const id = ++this.#askSeq;
      const timer = setTimeout(() => {
        this.#asked.delete(id);
        reject(new StreamRequestError("timed out", true));
      }, timeoutMs);
      this.#asked.set(id, { resolve, reject, timer, sent: this.#socket !== undefined });
      this.#write(encodeFrame(`{"p":${id},"d":${datas}}`));
    });
  }

  /** Writes a frame now, or once the connection is up. */
  #write(frame: Buffer): void {
    const socket = this.#socket;
    if (socket) {
      writeInTurn(socket, frame);
    } else {
      this.#unsent.push(frame);
      if (!this.#connecting) this.#connect();
    }
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
      for (const a of this.#asked.values()) a.sent = true;
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
      this.#failAsked(`HTTP ${status}`, false);
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
    if (typeof a.p === "number") {
      const asked = this.#asked.get(a.p);
      if (!asked) return; // timed out meanwhile
      this.#asked.delete(a.p);
      clearTimeout(asked.timer);
      if (typeof a.status === "number") {
        asked.resolve({ ok: false, status: a.status, code: a.code ?? "INTERNAL", error: a.error ?? "" });
      } else asked.resolve({ ok: true, answer: a.a });
      return;
    }
    const ack = a.ack;
    const n = typeof ack === "number" ? ack - this.#acked : -1;
    if (ack === undefined || n < 0 || n > this.#pending.length) {
      socket.destroy(new Error("acknowledgement out of range"));
      return;
    }
    const done = this.#pending.splice(0, n);
    this.#acked = ack;
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
    this.#failAsked(err.message, undefined);
  }

  /** Fails every request waiting for an answer; `sent` undefined: as each was (written or not). */
  #failAsked(why: string, sent: boolean | undefined): void {
    const asked = [...this.#asked.values()];
    this.#asked.clear();
    for (const a of asked) {
      clearTimeout(a.timer);
      a.reject(new StreamRequestError(why, sent ?? a.sent));
    }
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
