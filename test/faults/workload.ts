/**
 * The clients of a fault run: concurrent closed-loop clients issuing a random
 * mix of get/set/cas/delete on a few keys against random nodes, recording
 * each operation for the linearizability checker (history.ts).
 *
 * Outcome rules (docs/errors.md):
 * - 200: ok. 409 CAS_MISMATCH: ok, the cas did not apply (output false).
 * - other 4xx, 507 STORAGE_FULL, and 503/421 codes that refuse before
 *   proposing (NO_LEADER, NOT_LEADER, TRANSFERRING, NOT_READY): failed,
 *   definitely not applied.
 * - 503 UNAVAILABLE, 500, other 5xx, timeouts, resets after the request may
 *   have been sent, unparsable answers: unknown outcome.
 * - a connection that never opened (refused, unreachable): failed.
 * Every written value is unique (`c<client>-<n>`), so a read names its writer.
 */

import { Agent, request as httpRequest } from "node:http";
import type { Json, Operation } from "./history.ts";
import { sleep } from "./sys.ts";

/** An operation as the runner records it: the checker's fields plus where it went and what came back. */
export interface RecordedOp extends Operation {
  id: number;
  client: number | string;
  /** The node the client sent it to. */
  node: string;
  /** HTTP status, when an answer came. */
  http?: number;
  /** Error code of the answer, or the network error. */
  code?: string;
  /** X-Raftkv-Node of the answer (who served it after forwarding). */
  via?: string;
}

/** Error codes of writes that were refused before anything was proposed. */
const REFUSED = new Set(["NO_LEADER", "NOT_LEADER", "TRANSFERRING", "NOT_READY", "STORAGE_FULL"]);

/** How one HTTP exchange ended. */
export type Exchange =
  | { kind: "answer"; status: number; body: string; via: string | undefined }
  | { kind: "error"; sent: boolean; code: string };

/** The checker's view of an exchange: status, output (get value / cas result) and an error code for the record. */
export function classify(
  op: Pick<Operation, "kind" | "key">,
  ex: Exchange,
): { status: "ok" | "fail" | "unknown"; output?: Json; code?: string } {
  if (ex.kind === "error") return { status: ex.sent ? "unknown" : "fail", code: ex.code };
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(ex.body) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const code = typeof body?.code === "string" ? body.code : undefined;
  if (ex.status === 200 && body && typeof body === "object") {
    if (op.kind === "get") {
      if (!Object.hasOwn(body, op.key)) return { status: "unknown", code: "BAD_ANSWER" };
      return { status: "ok", output: (body[op.key] ?? null) as Json };
    }
    if (op.kind === "cas") return { status: "ok", output: true };
    return { status: "ok" };
  }
  if (ex.status === 409 && op.kind === "cas" && code === "CAS_MISMATCH") return { status: "ok", output: false, code };
  if (ex.status >= 400 && ex.status < 500) return { status: "fail", code: code ?? `HTTP_${ex.status}` };
  if (code !== undefined && REFUSED.has(code)) return { status: "fail", code };
  return { status: "unknown", code: code ?? `HTTP_${ex.status}` };
}

const agents = new Map<string, Agent>();

/** Sends one request on a keep-alive connection, never retried; tells whether it may have been sent. */
export function exchange(
  base: string,
  method: string,
  path: string,
  body: string | undefined,
  timeoutMs: number,
): Promise<Exchange> {
  let agent = agents.get(base);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 64 });
    agents.set(base, agent);
  }
  const u = new URL(path, base);
  return new Promise((resolve) => {
    let sent = false;
    let settled = false;
    const done = (x: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(x);
    };
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const via = res.headers["x-raftkv-node"];
          done({
            kind: "answer",
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            via: typeof via === "string" ? via : undefined,
          });
        });
        res.on("error", (e: NodeJS.ErrnoException) => done({ kind: "error", sent: true, code: e.code ?? e.message }));
      },
    );
    req.on("socket", (s) => {
      if (!s.connecting) sent = true;
      else s.once("connect", () => (sent = true));
    });
    const timer = setTimeout(() => {
      done({ kind: "error", sent, code: sent ? "TIMEOUT" : "CONNECT_TIMEOUT" });
      req.destroy();
    }, timeoutMs);
    req.on("error", (e: NodeJS.ErrnoException) => done({ kind: "error", sent, code: e.code ?? e.message }));
    req.end(body);
  });
}

/** Closes every keep-alive connection. */
export function closeAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/** Settings of the workload. */
export interface WorkloadOptions {
  clients: number;
  keys: number;
  ops: number;
  timeoutMs: number;
  /** Target total rate in operations per second (token bucket); Infinity = as fast as possible. */
  rate: number;
  rand: () => number;
  /** Client URL and id of each node. */
  nodes: Array<{ id: string; url: string }>;
}

/** Key names used by a run. */
export function keyNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `k${i}`);
}

/** Concurrent clients and the history they record. */
export class Workload {
  readonly history: RecordedOp[] = [];
  readonly keys: string[];
  readonly #o: WorkloadOptions;
  /** Operations issued so far. */
  issued = 0;
  /** Operations that may be issued so far (raised by the scheduler); the total is capped by `ops`. */
  allowance: number;
  #tokens = 0;
  #lastRefill = performance.now();
  /** Values recently written or read per key, for cas expectations. */
  readonly #recent = new Map<string, Json[]>();
  #stopped = false;
  readonly #origin: number;

  constructor(o: WorkloadOptions, origin: number) {
    this.#o = o;
    this.keys = keyNames(o.keys);
    this.allowance = o.ops;
    this.#origin = origin;
  }

  /** Runs every client until `ops` operations were issued (or stop()); resolves when all have returned. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.#o.clients }, (_, c) => this.#client(c)));
  }

  /** Makes clients stop issuing new operations. */
  stop(): void {
    this.#stopped = true;
  }

  /** Ops that completed with status ok. */
  get completed(): number {
    return this.history.filter((o) => o.status === "ok").length;
  }

  async #take(): Promise<boolean> {
    for (;;) {
      if (this.#stopped || this.issued >= this.#o.ops) return false;
      if (this.issued < this.allowance) {
        const now = performance.now();
        const cap = Math.max(2, this.#o.rate * 0.25);
        this.#tokens = Math.min(cap, this.#tokens + ((now - this.#lastRefill) / 1000) * this.#o.rate);
        this.#lastRefill = now;
        if (this.#tokens >= 1 || !Number.isFinite(this.#o.rate)) {
          this.#tokens -= 1;
          this.issued++;
          return true;
        }
      }
      await sleep(5 + this.#o.rand() * 10);
    }
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#o.rand() * xs.length)] as T;
  }

  #remember(key: string, v: Json): void {
    const list = this.#recent.get(key) ?? [];
    list.push(v);
    if (list.length > 4) list.shift();
    this.#recent.set(key, list);
  }

  async #client(c: number): Promise<void> {
    let seq = 0;
    while (await this.#take()) {
      const r = this.#o.rand();
      const key = this.#pick(this.keys);
      const node = this.#pick(this.#o.nodes);
      const op: RecordedOp = {
        id: this.history.length,
        client: c,
        kind: r < 0.4 ? "get" : r < 0.65 ? "set" : r < 0.9 ? "cas" : "delete",
        key,
        call: 0,
        node: node.id,
      };
      this.history.push(op);
      let method: string;
      let path: string;
      let body: string | undefined;
      const k = encodeURIComponent(key);
      if (op.kind === "get") {
        method = "GET";
        path = `/key/${k}`;
      } else if (op.kind === "delete") {
        method = "DELETE";
        path = `/key/${k}`;
      } else if (op.kind === "set") {
        op.value = `c${c}-${++seq}`;
        method = "POST";
        path = "/key";
        body = JSON.stringify({ [key]: op.value });
      } else {
        const recent = this.#recent.get(key) ?? [];
        op.expect = recent.length === 0 || this.#o.rand() < 0.15 ? null : this.#pick(recent);
        // Now and then a compare-and-delete (value null = absent in the model).
        const del = this.#o.rand() < 0.1 && op.expect !== null;
        op.value = del ? null : `c${c}-${++seq}`;
        method = "POST";
        path = `/cas/${k}`;
        body = JSON.stringify(del ? { expect: op.expect, delete: true } : { expect: op.expect, value: op.value });
      }
      op.call = performance.now() - this.#origin;
      const ex = await exchange(node.url, method, path, body, this.#o.timeoutMs);
      const ret = performance.now() - this.#origin;
      const res = classify(op, ex);
      op.status = res.status;
      if (res.status !== "unknown") op.ret = ret;
      if (res.output !== undefined) op.output = res.output;
      if (res.code !== undefined) op.code = res.code;
      if (ex.kind === "answer") {
        op.http = ex.status;
        if (ex.via) op.via = ex.via;
      }
      if (res.status === "ok") {
        if (op.kind === "get") this.#remember(key, op.output ?? null);
        else if (op.kind === "set" || (op.kind === "cas" && op.output === true)) this.#remember(key, op.value ?? null);
      }
    }
  }
}
