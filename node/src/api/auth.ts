/**
 * Admin authentication: `Authorization: Bearer <cluster secret>`. Both sides
 * are hashed before a constant-time compare, so neither the secret's content
 * nor its length leaks through timing.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { Request } from "express";
import { ApiFailure } from "./failure.ts";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/**
 * Throws UNAUTHORIZED unless the request carries the secret. With no secret
 * configured the admin API is open (a cluster without RAFT_SECRET trusts its network).
 */
export function requireSecret(req: Request, secret: string | undefined): void {
  if (secret === undefined) return;
  const header = req.headers.authorization ?? "";
  const m = /^Bearer[ ]+(.+)$/i.exec(header.trim());
  const given = m?.[1] ?? "";
  const ok = timingSafeEqual(digest(given), digest(secret));
  if (!ok || m === null) {
    throw new ApiFailure(
      "UNAUTHORIZED",
      header === "" ? "admin calls need `Authorization: Bearer <cluster secret>`" : "wrong cluster secret",
      undefined,
      { "WWW-Authenticate": 'Bearer realm="raftkv"' },
    );
  }
}
