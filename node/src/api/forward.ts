/**
 * What a follower does with a request only the leader can serve (writes,
 * linearizable reads, admin calls): proxy it to the leader (the default),
 * answer 307 to the leader (`?redirect`), or refuse it.
 *
 * A proxied request carries `X-Raftkv-Forwarded: 1`; a node that receives
 * one and is not the leader either refuses it (NO_LEADER, 503) instead of
 * forwarding again, so leadership moving mid-request can never make a loop.
 */

import type { Request, Response } from "express";
import type { Logger } from "./app.ts";
import { ApiFailure } from "./failure.ts";
import type { HotRequest, HotResponse } from "./hot-http.ts";
import { NodeError } from "./kv-node.ts";
import { sendJson } from "./plain-json.ts";

/** The header that marks a request proxied by another node. */
export const FORWARDED_HEADER = "x-raftkv-forwarded";

/** Response headers of the leader passed back to the client (X-Raftkv-Node then names the leader). */
const PASSED_BACK = ["content-type", "retry-after", "location", "allow", "www-authenticate", "x-raftkv-node"];

/** Request headers passed on to the leader (the body is passed on byte for byte). */
const PASSED_ON = ["content-type", "authorization", "accept"];

/** How forwarding behaves; set once per app. */
export interface ForwardOptions {
  /** False: answer NOT_LEADER (421) instead of proxying. */
  enabled: boolean;
  timeoutMs: number;
  logger: Logger;
}

/** One client request as forwarding sees it: express's, the lean path's or the raw front's. */
export interface Exchange {
  readonly req: HotRequest;
  readonly res: HotResponse;
  /** The request target as received (path and query), appended to the leader's URL. */
  readonly url: string;
  /** Records that the request went to the leader (the `forwarded` label of the request metrics). */
  markForwarded(): void;
}

/** The Exchange of an express request: its target as received, the mark in `res.locals` the metrics hook reads. */
export function expressExchange(req: Request, res: Response): Exchange {
  return {
    req,
    res,
    url: req.originalUrl,
    markForwarded: () => {
      res.locals.forwarded = true;
    },
  };
}

/** The leader a follower's own writes go to, and how to run one there (KvNode.remote). */
export interface RemoteRun<T> {
  leader(): { id: string; httpUrl: string } | undefined;
  run: () => Promise<T>;
}

/**
 * Runs `local`; if this node is not the leader, serves the request through the
 * leader instead (or redirects, or refuses): with `remote` (a write the node
 * itself can run on the leader) by calling it, otherwise by proxying the request. `body` is the raw request body
 * already read (undefined for bodiless requests). Returns true when the
 * response was already sent here, false when `local` resolved and the caller
 * must answer with its value.
 */
export async function viaLeader<T>(
  ex: Exchange,
  opts: ForwardOptions,
  redirect: boolean,
  body: Buffer | undefined,
  local: () => Promise<T>,
  remote?: RemoteRun<T>,
): Promise<{ forwarded: true } | { forwarded: false; value: T }> {
  // A follower that knows its leader goes there at once (no refusal built and thrown first).
  let leader = remote?.leader();
  if (leader === undefined) {
    try {
      return { forwarded: false, value: await local() };
    } catch (e) {
      if (!(e instanceof NodeError) || e.code !== "NOT_LEADER") throw e;
      leader = e.leader;
    }
  }
  return toLeader(ex, opts, redirect, body, leader, remote);
}

/**
 * viaLeader once this node is known not to lead: `leader` is the leader it knows (undefined: none).
 * Redirects, refuses, runs `remote` on the leader, or proxies the request, as viaLeader describes.
 */
export async function toLeader<T>(
  ex: Exchange,
  opts: ForwardOptions,
  redirect: boolean,
  body: Buffer | undefined,
  leader: { id: string; httpUrl: string } | undefined,
  remote?: RemoteRun<T>,
): Promise<{ forwarded: true } | { forwarded: false; value: T }> {
  const { req, res } = ex;
  if (leader === undefined || leader.httpUrl === "") {
    throw new ApiFailure("NO_LEADER", "this node is not the leader and knows no leader yet", { leader: "" });
  }
  const target = `${leader.httpUrl.replace(/\/+$/, "")}${ex.url}`;
  if (redirect) {
    res.statusCode = 307;
    res.setHeader("Location", target);
    sendJson(res, { leader: leader.httpUrl, location: target });
    return { forwarded: true };
  }
  if (!opts.enabled) {
    throw new ApiFailure("NOT_LEADER", `this node is not the leader; send the request to ${leader.httpUrl}`, {
      leader: leader.httpUrl,
    });
  }
  if (req.headers[FORWARDED_HEADER] !== undefined) {
    throw new ApiFailure("NO_LEADER", "leadership moved while the request was forwarded; retry", {
      leader: leader.httpUrl,
    });
  }
  ex.markForwarded();
  if (remote) {
    // The node runs the write on the leader itself (KvNode.remote): the answer is built here as usual.
    const value = await remote.run();
    res.setHeader("X-Raftkv-Node", leader.id);
    return { forwarded: false, value };
  }
  await proxy(ex, opts, target, leader, body);
  return { forwarded: true };
}

/** Proxies the request to `target` and copies the leader's answer back. */
async function proxy(
  ex: Exchange,
  opts: ForwardOptions,
  target: string,
  leader: { id: string; httpUrl: string },
  body: Buffer | undefined,
): Promise<void> {
  const { req, res } = ex;
  const headers: Record<string, string> = { [FORWARDED_HEADER]: "1" };
  for (const h of PASSED_ON) {
    const v = req.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  // Stop waiting for the leader when the client gives up.
  const gone = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) gone.abort();
  };
  res.on("close", onClose);
  ex.markForwarded();
  const hasBody = body !== undefined && body.length > 0 && req.method !== "GET" && req.method !== "HEAD";
  let answer: globalThis.Response;
  let payload: Buffer;
  try {
    answer = await fetch(target, {
      method: req.method,
      headers,
      body: hasBody ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : undefined,
      redirect: "manual",
      signal: AbortSignal.any([gone.signal, AbortSignal.timeout(opts.timeoutMs)]),
    });
    payload = Buffer.from(await answer.arrayBuffer());
  } catch (e) {
    if (gone.signal.aborted) return; // nobody is listening any more
    const cause = describeFetchError(e);
    opts.logger.warn("forwarding to the leader failed", { leader: leader.id, url: target, error: cause });
    // A write that reached the leader may still commit: say so rather than claim there is no leader.
    const sent = !isConnectError(e) && req.method !== "GET" && req.method !== "HEAD";
    throw new ApiFailure(
      sent ? "UNAVAILABLE" : "NO_LEADER",
      sent
        ? `the leader ${leader.id} (${leader.httpUrl}) did not answer (${cause}); the write may or may not have been applied`
        : `cannot reach the leader ${leader.id} (${leader.httpUrl}): ${cause}`,
      { leader: leader.httpUrl },
    );
  } finally {
    res.off("close", onClose);
  }
  res.statusCode = answer.status;
  for (const h of PASSED_BACK) {
    const v = answer.headers.get(h);
    if (v !== null) res.setHeader(h, v);
  }
  res.end(payload);
}

/** True when the error happened before the request reached the leader. */
function isConnectError(e: unknown): boolean {
  const code = errorCode(e);
  return (
    code === "ECONNREFUSED" ||
    code === "ENOTFOUND" ||
    code === "EAI_AGAIN" ||
    code === "EHOSTUNREACH" ||
    code === "ENETUNREACH" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  );
}

function errorCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error && e.name === "TimeoutError") return "timed out";
  return errorCode(e) ?? (e instanceof Error ? e.message : String(e));
}
