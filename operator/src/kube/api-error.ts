/**
 * One error type for every failed Kubernetes API call: the HTTP status (0 when there was no answer), the
 * API server's reason and message, so callers can branch on 404/409 and report the message in status.
 */

import { ApiException } from "@kubernetes/client-node";

/** A failed API call. */
export class KubeApiError extends Error {
  /** HTTP status; 0 when the server did not answer. */
  readonly status: number;
  /** The Status reason (NotFound, Conflict, Invalid, ...), or "" when unknown. */
  readonly reason: string;
  /** The API server's message (or the transport error's). */
  readonly apiMessage: string;
  /** Makes an error; `what` says which call failed. */
  constructor(what: string, status: number, reason: string, apiMessage: string, cause?: unknown) {
    super(`${what}: ${status === 0 ? "no answer" : `HTTP ${status}`}${reason ? ` ${reason}` : ""}: ${apiMessage}`, {
      cause,
    });
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.apiMessage = apiMessage;
  }
}

/** Converts anything a client-node call threw into a KubeApiError (unchanged if it already is one). */
export function toKubeApiError(what: string, e: unknown): KubeApiError {
  if (e instanceof KubeApiError) return e;
  if (e instanceof ApiException) {
    const body = parseBody((e as ApiException<unknown>).body);
    return new KubeApiError(what, e.code, body.reason, body.message || `HTTP ${e.code}`, e);
  }
  const status = (e as { statusCode?: unknown; code?: unknown } | undefined)?.statusCode;
  if (typeof status === "number") return new KubeApiError(what, status, "", String((e as Error).message), e);
  const msg = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ""}` : String(e);
  return new KubeApiError(what, 0, "", msg, e);
}

/** Runs `call`, turning whatever it throws into a KubeApiError. */
export async function kubeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw toKubeApiError(what, e);
  }
}

/** True for a KubeApiError (or client error) with HTTP status 404. */
export function isNotFound(e: unknown): boolean {
  return statusOf(e) === 404;
}

/** True for HTTP 409 (a resourceVersion conflict or an existing object). */
export function isConflict(e: unknown): boolean {
  return statusOf(e) === 409;
}

/** The HTTP status of an API error, 0 when unknown. */
export function statusOf(e: unknown): number {
  if (e instanceof KubeApiError) return e.status;
  if (e instanceof ApiException) return e.code;
  return 0;
}

/** A Status body's reason and message, whether the client parsed it or left it as text. */
function parseBody(body: unknown): { reason: string; message: string } {
  let b = body;
  if (typeof body === "string") {
    try {
      b = JSON.parse(body);
    } catch {
      return { reason: "", message: body.slice(0, 1000) };
    }
  }
  if (b && typeof b === "object") {
    const o = b as { reason?: unknown; message?: unknown };
    return {
      reason: typeof o.reason === "string" ? o.reason : "",
      message: typeof o.message === "string" ? o.message : JSON.stringify(b).slice(0, 1000),
    };
  }
  return { reason: "", message: "" };
}

/** The object `read` returns, or undefined when it answers 404. */
export async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

/** Runs `create`; an object that already exists (409, another pass made it) is not an error. */
export async function createIfAbsent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (statusOf(e) !== 409) throw e;
  }
}

/** A short message for a failed call: the API server's own message when there is one. */
export function messageOf(e: unknown): string {
  if (e instanceof KubeApiError || e instanceof ApiException) return toKubeApiError("", e).apiMessage;
  return e instanceof Error ? e.message : String(e);
}
