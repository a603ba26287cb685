/**
 * Sends Raft messages to peers over HTTP: one PeerLane per (peer, lane), all
 * on one keep-alive client, with the cluster secret and id on every request.
 * Also the client side of /raft/v1/join and /raft/v1/info.
 */

import type { Logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import type { Message, NodeId } from "../raft/types.ts";
import { authHeaders } from "./auth.ts";
import { HttpClient, type HttpReply } from "./http-client.ts";
import { PeerLane } from "./peer-lane.ts";
import { PeerStream, type StreamRequestError } from "./peer-stream.ts";
import {
  HEADERS,
  type InfoResponse,
  type JoinRequest,
  LANES,
  type Lane,
  laneOf,
  lanePath,
  PROPOSE_PATH,
  type ProposeAnswer,
  RAFT_PREFIX,
} from "./protocol.ts";
import { flushTurnWrites } from "./turn-writes.ts";

/** Who this node is on the wire. */
export interface TransportIdentity {
  id: NodeId;
  raftAddr: string;
  httpUrl: string;
}

/** Settings of a transport. */
export interface TransportOptions {
  self: TransportIdentity;
  secret: string | undefined;
  clusterId: string;
  /** The Raft address (`host:port`) of a peer, or undefined when unknown. */
  resolve: (id: NodeId) => string | undefined;
  logger: Logger;
  /** Requests in flight per peer on the append lane (others use 1). */
  maxInflight?: number;
  /** Messages queued per peer and lane before the oldest are dropped. */
  maxQueue?: number;
  /** Bytes per request (one message may exceed it). */
  maxBatchBytes?: number;
  /** The append lane on one connection per peer (peer-stream.ts); false: an HTTP request per batch. Default true. */
  stream?: boolean;
}

const TIMEOUT_MS: Record<Lane, number> = { append: 5000, vote: 2000, snapshot: 30_000, "timeout-now": 2000 };

/**
 * Batches in flight on an append stream. Acknowledgements are coalesced (one per ACK_EVERY batches, or a
 * few ms after the first), so the window must hold several acknowledgements' worth: at 8, with the
 * receiver waiting for 16, a sender of more than 8 batches per 5 ms stalled on every window.
 */
export const STREAM_INFLIGHT = 32;
/** After a peer refused the stream upgrade (an older version: 404), its appends go over HTTP this long. */
const STREAM_RETRY_MS = 60_000;

/** Forwarded proposals: requests in flight per leader, proposals and bytes per request. */
const PROPOSE_INFLIGHT = 4;
const PROPOSE_BATCH = 256;
const PROPOSE_BATCH_BYTES = 4 << 20;

/** One forwarded proposal waiting for its batch to leave or be answered. */
/** The forwarded writes waiting for one leader, and how many requests carry others to it now. */
interface ProposalQueue {
  queue: PendingProposal[];
  inflight: number;
  /** A pump is scheduled for the end of this turn of the event loop. */
  scheduled: boolean;
}

interface PendingProposal {
  data: string;
  timeoutMs: number;
  resolve: (a: ProposeAnswer) => void;
  reject: (e: ForwardError) => void;
}

/** A forwarded proposal failed in transit: `sent` is false when it never reached the leader. */
export class ForwardError extends Error {
  readonly sent: boolean;
  /** Builds the error. */
  constructor(message: string, sent: boolean) {
    super(message);
    this.sent = sent;
  }
}

/** Errors that prove a request never reached its target. */
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The sending half of Raft over HTTP. */
export class RaftTransport {
  readonly #o: TransportOptions;
  readonly #client = new HttpClient();
  readonly #lanes = new Map<string, PeerLane>();
  /** The append stream of each peer; forwarded proposals ride on it too. */
  readonly #streams = new Map<NodeId, PeerStream>();
  /** Peers that refused the stream (older versions), until when their traffic goes over HTTP. */
  readonly #httpUntil = new Map<NodeId, number>();
  readonly #headers: Record<string, string>;
  /**
   * Forwarded proposals have their own connections: they wait for a commit, which needs this node's
   * acknowledgements on the append lane; sharing sockets could starve those and stall both.
   */
  readonly #proposeClient = new HttpClient();
  /** Forwarded proposals per leader: waiting, and requests in flight. */
  readonly #proposals = new Map<NodeId, ProposalQueue>();
  /** Last time a failure to each peer was logged (failures are logged at most every 10 s per peer). */
  readonly #lastWarn = new Map<string, number>();

  /** A transport that has sent nothing yet. */
  constructor(o: TransportOptions) {
    this.#o = o;
    this.#headers = {
      ...authHeaders(o.secret, o.clusterId),
      [HEADERS.from]: o.self.id,
      [HEADERS.fromAddr]: o.self.raftAddr,
      [HEADERS.fromHttp]: o.self.httpUrl,
    };
  }

  /** Queues messages for their peers; never blocks and never throws. */
  send(msgs: readonly Message[]): void {
    const groups = new Map<string, Message[]>();
    for (const m of msgs) {
      const key = `${m.to}\u0000${laneOf(m.type)}`;
      const g = groups.get(key);
      if (g) g.push(m);
      else groups.set(key, [m]);
    }
    for (const [key, g] of groups) {
      const [to, lane] = key.split("\u0000") as [string, Lane];
      this.#lane(to, lane).push(g);
    }
  }

  /** Puts what `send` queued on the streams on the wire now, not at the end of the turn (see turn-writes.ts). */
  flush(): void {
    flushTurnWrites();
  }

  #lane(to: NodeId, lane: Lane): PeerLane {
    const key = `${to}\u0000${lane}`;
    let l = this.#lanes.get(key);
    if (l) return l;
    const o = this.#o;
    const path = lanePath(lane);
    const timer = metrics.rpcSeconds.labels({ peer: to, endpoint: lane });
    const stream =
      lane === "append" && o.stream !== false
        ? new PeerStream({ resolve: () => o.resolve(to), headers: this.#headers, timeoutMs: TIMEOUT_MS.append })
        : undefined;
    if (stream) this.#streams.set(to, stream);
    l = new PeerLane(
      {
        maxInflight: stream ? STREAM_INFLIGHT : lane === "append" ? (o.maxInflight ?? 2) : 1,
        maxQueue: o.maxQueue ?? 4096,
        maxBatchBytes: o.maxBatchBytes ?? 4 << 20,
        maxBatchMessages: 512,
      },
      async (body) => {
        if (stream && performance.now() >= (this.#httpUntil.get(to) ?? 0)) {
          // The stream's latency is until the peer acknowledges (coalesced there: up to a few ms later).
          const end = timer.startTimer();
          const status = await stream.send(body);
          end();
          if (stream.refusedWith === 404) this.#httpUntil.set(to, performance.now() + STREAM_RETRY_MS);
          return status;
        }
        const addr = o.resolve(to);
        if (addr === undefined) throw new Error(`no address known for ${to}`);
        const end = timer.startTimer();
        const r = await this.#client.send(addr, {
          method: "POST",
          path,
          headers: this.#headers,
          body,
          timeoutMs: TIMEOUT_MS[lane],
        });
        end();
        return r.status;
      },
      {
        dropped: (n) => metrics.messagesDropped.inc({ peer: to }, n),
        failed: (err, status) => {
          metrics.rpcFailures.inc({ peer: to, endpoint: lane });
          this.#warn(to, lane, err, status);
        },
        succeeded: () => this.#lastWarn.delete(to),
      },
    );
    this.#lanes.set(key, l);
    return l;
  }

  #warn(to: NodeId, lane: Lane, err: unknown, status: number | undefined): void {
    const now = Date.now();
    const last = this.#lastWarn.get(to);
    const fields = { peer: to, lane, addr: this.#o.resolve(to), status, err };
    if (status === 401 || status === 403) {
      // Credentials refused is a configuration error, worth a warning every time the window opens.
      if (last === undefined || now - last > 10_000)
        this.#o.logger.warn("peer refused our cluster credentials", fields);
    } else if (last === undefined || now - last > 10_000) {
      this.#o.logger.info("cannot reach peer", fields);
    } else return;
    this.#lastWarn.set(to, now);
  }

  /**
   * Forwards one client write (an encoded command) to the leader `to` over its Raft port. Writes
   * forwarded together leave in one request: those of one turn of the event loop (the client requests
   * one poll of the sockets brought) and those queued while PROPOSE_INFLIGHT requests are in flight;
   * each resolves with the leader's answer once applied there, or rejects with a ForwardError. Never
   * retried: a write that may have reached the leader has an unknown outcome.
   */
  propose(to: NodeId, data: string, timeoutMs: number): Promise<ProposeAnswer> {
    let q = this.#proposals.get(to);
    if (!q) {
      q = { queue: [], inflight: 0, scheduled: false };
      this.#proposals.set(to, q);
    }
    const queue = q;
    return new Promise((resolve, reject) => {
      queue.queue.push({ data, timeoutMs, resolve, reject });
      // setImmediate runs once the current poll's callbacks are done: every write they forwarded goes in one frame.
      if (!queue.scheduled) {
        queue.scheduled = true;
        setImmediate(() => {
          queue.scheduled = false;
          this.#pumpProposals(to, queue);
        });
      }
    });
  }

  #pumpProposals(to: NodeId, q: ProposalQueue): void {
    while (q.inflight < PROPOSE_INFLIGHT && q.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      let timeoutMs = 0;
      while (n < q.queue.length && n < PROPOSE_BATCH) {
        const p = q.queue[n] as PendingProposal;
        if (n > 0 && bytes + p.data.length > PROPOSE_BATCH_BYTES) break;
        bytes += p.data.length;
        timeoutMs = Math.max(timeoutMs, p.timeoutMs);
        n++;
      }
      const batch = q.queue.splice(0, n);
      const addr = this.#o.resolve(to);
      if (addr === undefined) {
        for (const p of batch) p.reject(new ForwardError(`no address known for ${to}`, false));
        continue;
      }
      q.inflight++;
      const body = JSON.stringify(batch.map((p) => p.data));
      const stream = this.#o.stream === false ? undefined : this.#stream(to);
      if (stream) {
        stream
          .ask(body, timeoutMs)
          .then(
            (r) => {
              if (!r.ok) {
                // Refused as a whole (401, 503 while starting, ...): nothing was proposed.
                for (const p of batch) p.reject(new ForwardError(`HTTP ${r.status}`, false));
                return;
              }
              if (!Array.isArray(r.answer) || r.answer.length !== batch.length) {
                for (const p of batch) p.reject(new ForwardError("a malformed answer", true));
                return;
              }
              for (let i = 0; i < batch.length; i++)
                (batch[i] as PendingProposal).resolve(r.answer[i] as ProposeAnswer);
            },
            (e: StreamRequestError) => {
              if (!e.sent && stream.refusedWith === 404) {
                // A leader without streams (an older version): these never left; send them over HTTP.
                this.#httpUntil.set(to, performance.now() + STREAM_RETRY_MS);
                q.queue.unshift(...batch);
                return;
              }
              for (const p of batch) p.reject(new ForwardError(e.message, e.sent));
            },
          )
          .finally(() => {
            q.inflight--;
            this.#pumpProposals(to, q);
          });
        continue;
      }
      this.#proposeClient
        .send(addr, {
          method: "POST",
          path: PROPOSE_PATH,
          headers: this.#headers,
          body,
          timeoutMs,
          maxResponseBytes: 1 << 30,
        })
        .then(
          (r) => {
            let answers: unknown;
            if (r.status === 200) answers = parseBody(r);
            if (!Array.isArray(answers) || answers.length !== batch.length) {
              // Refused as a whole (401, 503 while starting, ...): nothing was proposed.
              const why = `HTTP ${r.status}${r.status === 200 ? " (a malformed answer)" : ""}`;
              for (const p of batch) p.reject(new ForwardError(why, r.status === 200));
              return;
            }
            for (let i = 0; i < batch.length; i++) (batch[i] as PendingProposal).resolve(answers[i] as ProposeAnswer);
          },
          (e: NodeJS.ErrnoException) => {
            const sent = !CONNECT_ERRORS.has(e.code ?? "");
            const why = /timed out/.test(e.message) ? "timed out" : (e.code ?? e.message);
            for (const p of batch) p.reject(new ForwardError(why, sent));
          },
        )
        .finally(() => {
          q.inflight--;
          this.#pumpProposals(to, q);
        });
    }
  }

  /** The append stream to `to` (created with its lane), unless that peer takes only HTTP for now. */
  #stream(to: NodeId): PeerStream | undefined {
    if (performance.now() < (this.#httpUntil.get(to) ?? 0)) return undefined;
    this.#lane(to, "append");
    return this.#streams.get(to);
  }

  /** Asks the node at `addr` (`host:port`) to add us, or to record our addresses. */
  async join(addr: string, req: JoinRequest): Promise<{ status: number; body: unknown }> {
    const r = await this.#client.send(addr, {
      method: "POST",
      path: `${RAFT_PREFIX}/join`,
      headers: this.#headers,
      body: JSON.stringify(req),
      timeoutMs: 15_000,
    });
    return { status: r.status, body: parseBody(r) };
  }

  /** Asks the node at `addr` what it knows about the cluster. */
  async info(addr: string, timeoutMs = 2000): Promise<{ status: number; body: InfoResponse | undefined }> {
    const r = await this.#client.send(addr, {
      method: "GET",
      path: `${RAFT_PREFIX}/info`,
      headers: this.#headers,
      timeoutMs,
    });
    return { status: r.status, body: r.status === 200 ? (parseBody(r) as InfoResponse) : undefined };
  }

  /** Waits up to `ms` for queued messages to leave (used on shutdown). */
  async drain(ms: number): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((l) => l.drain(ms)));
  }

  /** Stops every lane and closes connections. */
  close(): void {
    for (const l of this.#lanes.values()) l.close();
    for (const s of this.#streams.values()) s.close();
    this.#client.close();
    this.#proposeClient.close();
  }

  /** Per-peer queue depths, for /status and tests. */
  queues(): Record<string, Partial<Record<Lane, { queued: number; inflight: number }>>> {
    const out: Record<string, Partial<Record<Lane, { queued: number; inflight: number }>>> = {};
    for (const [key, l] of this.#lanes) {
      const [to, lane] = key.split("\u0000") as [string, Lane];
      const peer = out[to] ?? {};
      peer[lane] = { queued: l.queued, inflight: l.inflight };
      out[to] = peer;
    }
    return out;
  }
}

function parseBody(r: HttpReply): unknown {
  try {
    return JSON.parse(r.body);
  } catch {
    return undefined;
  }
}

/** Every lane name, re-exported for servers. */
export { LANES };
