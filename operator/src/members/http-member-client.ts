/**
 * The MemberClient that speaks HTTP to raftkv nodes with the global fetch (keep-alive by default).
 * Admin calls go to whichever node the caller names without `?redirect`: a follower forwards them to
 * its leader. Redirects are never followed, so a pod cannot send the operator, or its secret, elsewhere.
 */

import type { NodeAnswer } from "../plan/observed.ts";
import { MemberCallError, type MemberClient, type NewMember } from "./member-client.ts";
import { parseNodeStatus } from "./parse-node-status.ts";

/** Timeouts of HttpMemberClient, in milliseconds. */
export interface HttpMemberClientOptions {
  /** GET /status, whole answer included (default 1500). */
  statusTimeoutMs?: number;
  /** Admin calls; they answer once the change committed (default 10000). */
  adminTimeoutMs?: number;
}

/** Larger answers are refused: /status of a big cluster is a few KiB. */
const MAX_ANSWER_BYTES = 1 << 20;

/** How one request went, before its meaning is judged. */
type Outcome =
  | { kind: "answer"; status: number; body: unknown }
  | { kind: "failed"; code: "TIMEOUT" | "UNREACHABLE" | "BAD_ANSWER"; message: string };

/** MemberClient over HTTP. */
export class HttpMemberClient implements MemberClient {
  readonly #statusTimeoutMs: number;
  readonly #adminTimeoutMs: number;

  /** A client with the given (or default) timeouts. */
  constructor(o: HttpMemberClientOptions = {}) {
    this.#statusTimeoutMs = o.statusTimeoutMs ?? 1500;
    this.#adminTimeoutMs = o.adminTimeoutMs ?? 10_000;
  }

  /** GET /status; every failure is an `{ok: false}` answer. */
  async status(httpUrl: string): Promise<NodeAnswer> {
    const r = await request(httpUrl, "GET", "/status", undefined, undefined, this.#statusTimeoutMs);
    if (r.kind === "failed") return { ok: false, error: r.message };
    if (r.status !== 200) return { ok: false, error: `GET /status answered ${r.status}${describeError(r.body)}` };
    return parseNodeStatus(r.body);
  }

  /** POST /admin/members. */
  addLearner(leaderUrl: string, secret: string, m: NewMember): Promise<void> {
    const body = { id: m.id, raftAddr: m.raftAddr, httpUrl: m.httpUrl, incarnation: m.incarnation };
    return this.#admin(leaderUrl, secret, "POST", "/admin/members", body);
  }

  /** POST /admin/members/<id>/promote. */
  promote(leaderUrl: string, secret: string, id: string): Promise<void> {
    return this.#admin(leaderUrl, secret, "POST", `/admin/members/${encodeURIComponent(id)}/promote`);
  }

  /** DELETE /admin/members/<id>. */
  remove(leaderUrl: string, secret: string, id: string): Promise<void> {
    return this.#admin(leaderUrl, secret, "DELETE", `/admin/members/${encodeURIComponent(id)}`);
  }

  /** POST /admin/transfer-leader {id: to}. */
  transferLeader(leaderUrl: string, secret: string, to: string): Promise<void> {
    return this.#admin(leaderUrl, secret, "POST", "/admin/transfer-leader", { id: to });
  }

  /** One admin call: resolves on 200 `{ok: true}`, throws MemberCallError otherwise. */
  async #admin(url: string, secret: string, method: string, path: string, body?: unknown): Promise<void> {
    const what = `${method} ${path} on ${url}`;
    const r = await request(url, method, path, secret, body, this.#adminTimeoutMs);
    if (r.kind === "failed") {
      // After a timeout the change may still commit: the caller must observe before retrying.
      throw new MemberCallError(r.code, 0, `${what}: ${r.message}`);
    }
    if (r.status === 200) {
      if (isObject(r.body) && r.body.ok === true) return;
      throw new MemberCallError("BAD_ANSWER", r.status, `${what}: 200 without {"ok": true}`);
    }
    const err = nodeError(r.body);
    if (err) throw new MemberCallError(err.code, r.status, `${what}: ${r.status} ${err.code}: ${err.error}`);
    throw new MemberCallError("BAD_ANSWER", r.status, `${what}: ${r.status} without a raftkv error body`);
  }
}

/** Sends one request with a deadline covering the whole answer; never throws. */
async function request(
  base: string,
  method: string,
  path: string,
  secret: string | undefined,
  body: unknown,
  timeoutMs: number,
): Promise<Outcome> {
  let url: URL;
  try {
    url = new URL(base.replace(/\/+$/, "") + path);
  } catch {
    return { kind: "failed", code: "UNREACHABLE", message: `not a URL: ${JSON.stringify(base)}` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { kind: "failed", code: "UNREACHABLE", message: `not an http(s) URL: ${JSON.stringify(base)}` };
  }
  const headers: Record<string, string> = { accept: "application/json" };
  if (secret) headers.authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const init: RequestInit = { method, headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) init.body = JSON.stringify(body);
  try {
    const res = await fetch(url, init);
    const text = await readLimited(res, MAX_ANSWER_BYTES);
    if (text === undefined) {
      return { kind: "failed", code: "BAD_ANSWER", message: `answer larger than ${MAX_ANSWER_BYTES} bytes` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // A non-JSON error answer (a proxy's page, say) is still judged by its status.
      if (res.status === 200) return { kind: "failed", code: "BAD_ANSWER", message: "answer is not JSON" };
      parsed = undefined;
    }
    return { kind: "answer", status: res.status, body: parsed };
  } catch (e) {
    return failure(e, timeoutMs);
  }
}

/** The body as text, or undefined when it exceeds `max` bytes (the rest is not read). */
async function readLimited(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Classifies a fetch failure. */
function failure(e: unknown, timeoutMs: number): Outcome {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError" || err.name === "AbortError") {
    return { kind: "failed", code: "TIMEOUT", message: `no answer within ${timeoutMs} ms` };
  }
  const cause = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
  return { kind: "failed", code: "UNREACHABLE", message: `cannot connect: ${cause}` };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The node's `{error, code}`, if the body is one. */
function nodeError(body: unknown): { code: string; error: string } | undefined {
  if (!isObject(body) || typeof body.code !== "string" || !/^[A-Z][A-Z0-9_]{0,63}$/.test(body.code)) return undefined;
  return { code: body.code, error: typeof body.error === "string" ? body.error.slice(0, 500) : "" };
}

/** ` CODE: message` of an error body, or nothing. */
function describeError(body: unknown): string {
  const err = nodeError(body);
  return err ? ` ${err.code}: ${err.error}` : "";
}
