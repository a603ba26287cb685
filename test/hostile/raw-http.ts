/**
 * Helpers of the hostile tests: raw HTTP/1.1 over a socket (so a request can
 * carry bytes no HTTP client would send), a parser for the one response that
 * comes back, and cluster-wide state snapshots read with stale reads.
 */

import { Socket } from "node:net";
import type { TestCluster } from "../cluster/harness.ts";

/** What came back for one raw request. */
export interface RawReply {
  /** HTTP status, or undefined when the server closed without answering. */
  status: number | undefined;
  headers: Record<string, string>;
  body: Buffer;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
  /** True when no complete answer arrived within the time limit. */
  timedOut: boolean;
  /** Milliseconds from the first byte sent to the end. */
  ms: number;
}

/** One request as bytes: method, target and headers are written as given (no escaping). */
export interface RawRequest {
  method: string;
  target: string | Buffer;
  headers?: Array<[string, string]>;
  body?: Buffer | string;
  /** Omit the automatic Content-Length (for chunked or lying requests). */
  noContentLength?: boolean;
}

/** Serialises a request; adds Host, Connection: close and Content-Length unless told otherwise. */
export function encodeRequest(r: RawRequest): Buffer {
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body);
  const lines: Buffer[] = [Buffer.from(`${r.method} `, "latin1"), Buffer.from(r.target), Buffer.from(" HTTP/1.1\r\n")];
  const headers = r.headers ?? [];
  const has = (n: string) => headers.some(([k]) => k.toLowerCase() === n);
  if (!has("host")) lines.push(Buffer.from("Host: 127.0.0.1\r\n"));
  if (!has("connection")) lines.push(Buffer.from("Connection: close\r\n"));
  if (!r.noContentLength && !has("content-length") && (body.length > 0 || r.method === "POST")) {
    lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  }
  for (const [k, v] of headers) lines.push(Buffer.from(`${k}: ${v}\r\n`, "latin1"));
  lines.push(Buffer.from("\r\n"), body);
  return Buffer.concat(lines);
}

/** Decodes a chunked body; returns what could be decoded. */
function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < b.length) {
    const eol = b.indexOf("\r\n", pos);
    if (eol < 0) break;
    const size = Number.parseInt(b.subarray(pos, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Parses the first response in `buf` (status line, headers, body by Content-Length or chunked). */
export function parseReply(buf: Buffer): Omit<RawReply, "timedOut" | "ms"> {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return { status: undefined, headers: {}, body: Buffer.alloc(0), json: undefined };
  const head = buf.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "");
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const c = line.indexOf(":");
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let body = buf.subarray(end + 4);
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = dechunk(body);
  else if (headers["content-length"] !== undefined) body = body.subarray(0, Number(headers["content-length"]));
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    json = undefined;
  }
  return { status: m ? Number(m[1]) : undefined, headers, body, json };
}

/** Whether `buf` already holds one whole response (so a keep-alive socket need not be waited on). */
function complete(buf: Buffer): boolean {
  const r = parseReply(buf);
  if (r.status === undefined) return false;
  const end = buf.indexOf("\r\n\r\n") + 4;
  const cl = r.headers["content-length"];
  if (cl !== undefined) return buf.length - end >= Number(cl);
  if (r.headers["transfer-encoding"]?.toLowerCase() === "chunked") return buf.includes("\r\n0\r\n\r\n", end - 2);
  return r.status === 204 || r.status === 304;
}

/**
 * Sends `data` (or writes each element of an array after `gapMs`) to
 * 127.0.0.1:`port` and resolves with the first response, when the server
 * closes, or after `timeoutMs` (timedOut).
 */
export function rawSend(
  port: number,
  data: Buffer | Buffer[],
  o: { timeoutMs?: number; gapMs?: number } = {},
): Promise<RawReply> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const parts = Array.isArray(data) ? data : [data];
  return new Promise((resolve) => {
    const start = performance.now();
    const sock = new Socket();
    const chunks: Buffer[] = [];
    let done = false;
    let gapTimer: NodeJS.Timeout | undefined;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(gapTimer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      resolve({ ...parseReply(buf), timedOut, ms: performance.now() - start });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      if (complete(Buffer.concat(chunks))) finish(false);
    });
    sock.on("error", () => finish(false));
    sock.on("close", () => finish(false));
    sock.connect(port, "127.0.0.1", () => {
      let i = 0;
      const writeNext = () => {
        if (done || sock.destroyed) return;
        const part = parts[i++];
        if (part === undefined) return;
        sock.write(part, () => {
          if (i < parts.length) gapTimer = setTimeout(writeNext, o.gapMs ?? 0);
        });
      };
      writeNext();
    });
  });
}

/** Every key and value node `i` holds, read page by page with stale reads (no leader involved). */
export async function readAll(c: TestCluster, i: number): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const q = `/keys?consistency=stale&limit=10000${after === undefined ? "" : `&after=${encodeURIComponent(after)}`}`;
    const r = await c.http(i, "GET", q, undefined, 10_000);
    if (r.status !== 200) throw new Error(`GET ${q} on node ${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    const body = r.body as unknown as { keys: Array<{ key: string; value: unknown }>; next?: string };
    for (const { key, value } of body.keys) out.set(key, value);
    if (body.next === undefined) return out;
    after = body.next;
  }
  throw new Error("too many pages");
}

/** Sorted [key, value] pairs of a map, for deepEqual with readable diffs. */
export function entriesOf(m: Map<string, unknown>): Array<[string, unknown]> {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Runs `tasks` with at most `n` in flight; results in order. */
export async function pool<T>(n: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const k = next++;
      out[k] = await (tasks[k] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}
