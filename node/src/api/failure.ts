/**
 * How the API answers with an error: every refusal is a JSON `ApiError`
 * (`{error, code}`) with the status and headers errors.ts assigns to its code.
 * Handlers throw `ApiFailure`; the final error handler in app.ts sends it.
 */

import type { Response } from "express";
import { type ApiError, apiError, type ErrorCode, errorHeaders, httpStatus } from "../errors.ts";
import type { HotRequest, HotResponse } from "./hot-http.ts";

/** Extra fields an error body may carry besides `error` and `code`. */
export type ErrorExtra = Partial<Omit<ApiError, "error" | "code">> & Record<string, unknown>;

/** A refusal to send as an error response; thrown by handlers and helpers. */
export class ApiFailure extends Error {
  readonly code: ErrorCode;
  readonly extra: ErrorExtra | undefined;
  readonly headers: Record<string, string>;
  /** Builds a failure with a stable code, a message for the client, and optional body fields and headers. */
  constructor(code: ErrorCode, message: string, extra?: ErrorExtra, headers: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

/** Sends `{error, code, ...extra}` with the code's status and headers (Retry-After on 503s). */
export function sendError(
  res: Response,
  code: ErrorCode,
  message: string,
  extra?: ErrorExtra,
  headers: Record<string, string> = {},
): void {
  res.status(httpStatus(code));
  for (const [k, v] of Object.entries({ ...errorHeaders(code), ...headers })) res.setHeader(k, v);
  res.json({ ...apiError(code, message), ...extra });
}

/** Thrown when the client went away while we read its body: there is no one to answer. */
export class ClientGone extends Error {}

/** True when the request's connection is already gone, so no response can be sent. */
export function clientGone(req: HotRequest, res: HotResponse): boolean {
  return res.destroyed || req.socket.destroyed;
}
