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
import { NodeError } from "./kv-node.ts";

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

/**
 * Runs `local`; if this node is not the leader, serves the request through the
 * leader instead (or redirects, or refuses): with `remote` (a write the node
 * itself can run on the leader) by calling it, otherwise by proxying the request. `body` is the raw request body
 * already read (undefined for bodiless requests). Returns true when the
 * response was already sent here, false when `local` resolved and the caller
 * must answer with its value.
 */
export async function viaLeader<T>(
  req: Request,
  res: Response,
  opts: ForwardOptions,
  redirect: boolean,
  body: Buffer | undefined,
  local: () => Promise<T>,
  remote?: { leader(): { id: string; httpUrl: string } | undefined; run: () => Promise<T> },
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
  if (leader === undefined || leader.httpUrl === "") {
    throw new ApiFailure("NO_LEADER", "this node is not the leader and knows no leader yet", { leader: "" });
  }
  const target = `${leader.httpUrl.replace(/\/+$/, "")}${req.originalUrl}`;
  if (redirect) {
    res.status(307).setHeader("Location", target);
    res.json({ leader: leader.httpUrl, location: target });
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
  res.locals.forwarded = true;
  if (remote) {
    // The node runs the write on the leader itself (KvNode.remote): the answer is built here as usual.
    const value = await remote.run();
    res.setHeader("X-Raftkv-Node", leader.id);
    return { forwarded: false, value };
  }
  await proxy(req, res, opts, target, leader, body);
  return { forwarded: true };
}

/** Proxies the request to `target` and copies the leader's answer back. */
async function proxy(
  req: Request,
  res: Response,
  opts: ForwardOptions,
  target: string,
  leader: { id: string; httpUrl: string },
  body: Buffer | undefined,
): Promise<void> {
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
  res.locals.forwarded = true;
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
  res.status(answer.status);
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
