/**
 * The receiving end of append streams (peer-stream.ts) on the Raft port:
 * an upgrade request is authenticated like any Raft request (refused with the
 * same JSON answer and status), then every frame is checked and delivered
 * exactly as a POST to the append lane would be. Acknowledgements are
 * cumulative and coalesced: one after ACK_EVERY batches, or ACK_DELAY_MS
 * after the first unacknowledged one. A refusal is sent as an error frame
 * and the connection is closed, so nothing after a bad batch is taken.
 */

import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { metrics } from "../metrics.ts";
import { checkAuth } from "./auth.ts";
import { type AckFrame, STREAM_PATH, STREAM_PROTOCOL } from "./peer-stream.ts";
import { encodeFrame, FrameReader, FrameTooLarge } from "./stream-frames.ts";
import { writeInTurn } from "./turn-writes.ts";

/**
 * Acknowledge at once after this many batches. It must stay well below the sender's window
 * (STREAM_INFLIGHT in raft-transport.ts): a sender whose window fills first waits out ACK_DELAY_MS.
 */
export const ACK_EVERY = 8;
/** Otherwise acknowledge this long after the first batch not yet acknowledged. */
const ACK_DELAY_MS = 5;
/** A stream with no frame for this long is closed (heartbeats arrive every tick). */
const IDLE_MS = 65_000;

/** A refusal of one batch: what the HTTP lane would have answered. */
export interface Refusal {
  status: number;
  code: string;
  error: string;
}

/** What the stream server needs from the Raft port. */
export interface StreamServerOptions {
  secret: string | undefined;
  clusterId: string;
  /** Largest frame (as the Raft port's largest body). */
  maxBodyBytes: number;
  /** Checks and delivers one parsed batch with the upgrade request's headers: undefined when taken. */
  deliver: (body: unknown, req: IncomingMessage) => Refusal | undefined;
  /** Answers forwarded proposals (a request frame's `d`): the answers, or the refusal of the whole request. */
  propose: (datas: unknown) => Promise<{ answers: unknown } | Refusal>;
  /** Logs a refused upgrade. */
  onRefused: (reason: string, req: IncomingMessage) => void;
  /** The acknowledgement delay (ACK_DELAY_MS unless set: tests). */
  ackDelayMs?: number;
}

const REASONS: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" };

/** A request frame: `{p: id, d: payload}` (anything else that is not an append batch is refused by deliver). */
function isRequest(v: unknown): v is { p: number; d: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Number.isSafeInteger((v as { p?: unknown }).p);
}

function refuse(socket: Duplex, status: number, code: string, error: string): void {
  const body = JSON.stringify({ code, error });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Serves append streams on `server`; returns a function destroying every open stream (for shutdown). */
export function serveStreams(server: Server, o: StreamServerOptions): () => void {
  const open = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    if (req.url !== STREAM_PATH || req.headers.upgrade !== STREAM_PROTOCOL) {
      refuse(socket, 404, "NOT_FOUND", "no such upgrade");
      return;
    }
    const verdict = checkAuth(req.headers, o.secret, o.clusterId);
    if (!verdict.ok) {
      metrics.raftRejected.inc({ reason: verdict.code.toLowerCase() });
      o.onRefused(verdict.reason, req);
      refuse(socket, verdict.status, verdict.code, verdict.reason);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${STREAM_PROTOCOL}\r\n\r\n`);
    (socket as Duplex & { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    (socket as Duplex & { setTimeout?: (ms: number, f: () => void) => void }).setTimeout?.(IDLE_MS, () =>
      socket.destroy(),
    );
    open.add(socket);
    const reader = new FrameReader(o.maxBodyBytes);
    let taken = 0;
    let acked = 0;
    let timer: NodeJS.Timeout | undefined;
    let failed = false;
    const ack = (refusal?: Refusal) => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (socket.destroyed) return;
      const a: AckFrame = refusal ? { ack: taken, ...refusal } : { ack: taken };
      acked = taken;
      writeInTurn(socket, encodeFrame(JSON.stringify(a)));
    };
    const fail = (r: Refusal) => {
      failed = true;
      ack(r);
      socket.end();
    };
    const onData = (chunk: Buffer) => {
      if (failed) return;
      let texts: string[];
      try {
        texts = reader.push(chunk);
      } catch (e) {
        if (e instanceof FrameTooLarge) fail({ status: 413, code: "BODY_TOO_LARGE", error: e.message });
        else socket.destroy();
        return;
      }
      for (const text of texts) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (e) {
          fail({ status: 400, code: "BAD_JSON", error: (e as Error).message });
          return;
        }
        if (isRequest(body)) {
          const id = body.p;
          void o.propose(body.d).then((r) => {
            if (socket.destroyed) return;
            // Answers resolved by one apply leave together.
            writeInTurn(
              socket,
              encodeFrame("answers" in r ? JSON.stringify({ p: id, a: r.answers }) : JSON.stringify({ p: id, ...r })),
            );
          });
          continue;
        }
        const r = o.deliver(body, req);
        if (r) {
          fail(r);
          return;
        }
        taken++;
      }
      if (taken - acked >= ACK_EVERY) ack();
      else if (taken > acked) timer ??= setTimeout(() => ack(), o.ackDelayMs ?? ACK_DELAY_MS);
    };
    socket.on("data", onData);
    socket.on("close", () => {
      if (timer) clearTimeout(timer);
      open.delete(socket);
    });
    if (head.length > 0) onData(head);
  });
  return () => {
    for (const s of open) s.destroy();
    open.clear();
  };
}
