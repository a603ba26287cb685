/**
 * Who may speak Raft: a request must carry the shared cluster secret (401
 * otherwise) and this cluster's id (403 otherwise). Membership itself is
 * enforced by the core's incarnation rule; this keeps strangers out.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { HEADERS } from "./protocol.ts";

/** The verdict on one request. */
export type AuthResult =
  | { ok: true }
  | { ok: false; status: 401 | 403; code: "UNAUTHORIZED" | "FORBIDDEN"; reason: string };

/** Constant-time string comparison (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Checks the secret and cluster id headers of a Raft request. */
export function checkAuth(
  headers: Record<string, string | string[] | undefined>,
  secret: string | undefined,
  clusterId: string,
): AuthResult {
  if (secret !== undefined) {
    const h = headers[HEADERS.auth];
    const given = typeof h === "string" && h.startsWith("Bearer ") ? h.slice("Bearer ".length) : undefined;
    if (given === undefined) return { ok: false, status: 401, code: "UNAUTHORIZED", reason: "missing cluster secret" };
    if (!safeEqual(given, secret))
      return { ok: false, status: 401, code: "UNAUTHORIZED", reason: "wrong cluster secret" };
  }
  const cluster = headers[HEADERS.cluster];
  if (cluster !== clusterId) {
    return { ok: false, status: 403, code: "FORBIDDEN", reason: `cluster id ${String(cluster)} is not ${clusterId}` };
  }
  return { ok: true };
}

/** The headers a node sends with every Raft request. */
export function authHeaders(secret: string | undefined, clusterId: string): Record<string, string> {
  const h: Record<string, string> = { [HEADERS.cluster]: clusterId };
  if (secret !== undefined) h[HEADERS.auth] = `Bearer ${secret}`;
  return h;
}
