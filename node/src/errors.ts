/**
 * Stable error codes of the HTTP API and the status each one maps to.
 *
 * Rules that shaped the table:
 * - Bad input is always 4xx; 5xx means "this cluster cannot serve you right
 *   now" (or a genuine bug / I/O failure: INTERNAL) and is safe to retry.
 * - Every 503 carries `Retry-After` (see `retryAfter`), so clients back off.
 * - NOT_LEADER is 421 Misdirected Request: writes are forwarded to the leader
 *   by default, so this only reaches a client that disabled forwarding (or
 *   when forwarding is impossible). 421 says "this server is the wrong target,
 *   resend elsewhere" and the body names the leader. Not 3xx, because clients
 *   follow redirects on their own and 301/302 turn a POST into a GET; not 503,
 *   because retrying the same node would never succeed.
 */

import type { RefusalCode } from "./raft/types.ts";

/** Every code the API can return in `ApiError.code`. */
export type ErrorCode =
  | "NOT_LEADER"
  | "NO_LEADER"
  | "UNAVAILABLE"
  | "TRANSFERRING"
  | "NOT_READY"
  | "BAD_JSON"
  | "BAD_BODY"
  | "BAD_KEY"
  | "BAD_PARAM"
  | "BODY_TOO_LARGE"
  | "BAD_REQUEST"
  | "HEADERS_TOO_LARGE"
  | "REQUEST_TIMEOUT"
  | "NOT_FOUND"
  | "KEY_NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "CAS_MISMATCH"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "CONFIG_CHANGE_PENDING"
  | "UNKNOWN_MEMBER"
  | "BAD_CONFIG_CHANGE"
  | "STORAGE_FULL"
  | "INTERNAL";

/** How one code is reported: its HTTP status, whether a retry may succeed, and what it means. */
export interface ErrorInfo {
  status: number;
  /** True when the same request may succeed later; 503s then carry Retry-After. */
  retryable: boolean;
  description: string;
}

/** The documented table of codes; the docs and the HTTP layer both read it. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorInfo>> = {
  NOT_LEADER: {
    status: 421,
    retryable: true,
    description: "This node is not the leader and forwarding was disabled or impossible; `leader` names the leader.",
  },
  NO_LEADER: { status: 503, retryable: true, description: "No leader is known yet (election in progress)." },
  UNAVAILABLE: {
    status: 503,
    retryable: true,
    description: "The proposal was not committed in time (no quorum reachable); it may still commit later.",
  },
  TRANSFERRING: { status: 503, retryable: true, description: "Leadership is being transferred; retry shortly." },
  NOT_READY: {
    status: 503,
    retryable: true,
    description: "This node is starting or catching up and cannot serve yet.",
  },
  BAD_JSON: { status: 400, retryable: false, description: "The body is not valid JSON." },
  BAD_BODY: { status: 400, retryable: false, description: "The JSON body has the wrong shape (e.g. not an object)." },
  BAD_KEY: {
    status: 400,
    retryable: false,
    description: "A key is empty, longer than 1024 bytes in UTF-8, or not well-formed Unicode.",
  },
  BAD_PARAM: { status: 400, retryable: false, description: "A query parameter is missing or malformed." },
  BODY_TOO_LARGE: { status: 413, retryable: false, description: "The body exceeds MAX_BODY_BYTES (default 1 MiB)." },
  // The next three are sent by the client server's `clientError` handler (api/client-server.ts) for
  // requests Node's HTTP parser refuses before the app sees them; the connection is then closed.
  BAD_REQUEST: {
    status: 400,
    retryable: false,
    description:
      "Not valid HTTP/1.1 (e.g. raw non-ASCII or NUL bytes in the target, both Content-Length and Transfer-Encoding).",
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    retryable: false,
    description: "The request line and headers exceed 16 KiB.",
  },
  REQUEST_TIMEOUT: {
    status: 408,
    retryable: true,
    description: "The headers did not arrive within 15 s, or the whole request within 30 s.",
  },
  NOT_FOUND: { status: 404, retryable: false, description: "No such route." },
  KEY_NOT_FOUND: { status: 404, retryable: false, description: "The key does not exist (native API only)." },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false, description: "The route exists but not for this method." },
  CAS_MISMATCH: {
    status: 409,
    retryable: false,
    description: "Compare-and-swap failed: the current value differs from `expect`; `current` holds it.",
  },
  UNAUTHORIZED: { status: 401, retryable: false, description: "Missing or wrong cluster secret." },
  FORBIDDEN: { status: 403, retryable: false, description: "The request belongs to another cluster (CLUSTER_ID)." },
  CONFIG_CHANGE_PENDING: {
    status: 409,
    retryable: true,
    description: "Another membership change is still in progress; retry after it commits.",
  },
  UNKNOWN_MEMBER: { status: 404, retryable: false, description: "No member with this id." },
  BAD_CONFIG_CHANGE: {
    status: 400,
    retryable: false,
    description: "The membership change is not allowed (e.g. removing the last voter).",
  },
  STORAGE_FULL: {
    status: 507,
    retryable: true,
    description:
      "Nothing was written: the leader's disk is below MIN_FREE_BYTES, or this node's disk filled up and it waits for room.",
  },
  INTERNAL: { status: 500, retryable: true, description: "A bug or an I/O failure on the server; never bad input." },
};

/** Seconds sent in `Retry-After` with every 503. */
export const RETRY_AFTER_SECONDS = 1;

/** The JSON body of every error response. */
export interface ApiError {
  error: string;
  code: ErrorCode;
  /** NOT_LEADER / NO_LEADER: the leader this node knows of ("" if none). */
  leader?: string;
  /** CAS_MISMATCH: the value found instead (null when absent). */
  current?: unknown;
}

/** Builds an error body; `extra` adds `leader` or `current`. */
export function apiError(code: ErrorCode, message: string, extra?: Pick<ApiError, "leader" | "current">): ApiError {
  return { error: message, code, ...extra };
}

/** The HTTP status for a code. */
export function httpStatus(code: ErrorCode): number {
  return ERROR_TABLE[code].status;
}

/** Headers to send with a code: `Retry-After` for every 503. */
export function errorHeaders(code: ErrorCode): Record<string, string> {
  return ERROR_TABLE[code].status === 503 ? { "Retry-After": String(RETRY_AFTER_SECONDS) } : {};
}

// Compile-time check: every refusal the Raft core can produce has an HTTP mapping.
const refusalsAreMapped: RefusalCode extends ErrorCode ? true : never = true;
void refusalsAreMapped;
