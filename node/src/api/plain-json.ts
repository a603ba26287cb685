/**
 * JSON answers written on node:http's ServerResponse directly, byte for byte
 * as express's `res.json` writes them (`Content-Type: application/json;
 * charset=utf-8`, then `Content-Length`, no body for HEAD), so the lean path
 * and the shared forwarding code answer exactly as the express routes do.
 * They assume no Content-Type was set before (express would keep that one).
 */

import { apiError, type ErrorCode, errorHeaders, httpStatus } from "../errors.ts";
import type { ErrorExtra } from "./failure.ts";
import type { HotResponse } from "./hot-http.ts";

/** The Content-Type express's res.json sends. */
export const JSON_TYPE = "application/json; charset=utf-8";

/** Sends `value` as JSON with the status already set on `res` (as express's `res.json`). */
export function sendJson(res: HotResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.setHeader("Content-Type", JSON_TYPE);
  res.setHeader("Content-Length", String(Buffer.byteLength(body)));
  if (res.req.method === "HEAD") res.end();
  else res.end(body, "utf8");
}

/** Sends `{error, code, ...extra}` with the code's status and headers, as failure.ts's sendError does through express. */
export function sendPlainError(
  res: HotResponse,
  code: ErrorCode,
  message: string,
  extra?: ErrorExtra,
  headers: Record<string, string> = {},
): void {
  res.statusCode = httpStatus(code);
  for (const [k, v] of Object.entries({ ...errorHeaders(code), ...headers })) res.setHeader(k, v);
  sendJson(res, { ...apiError(code, message), ...extra });
}
