/**
 * The HTTP server for client requests, hardened at the level below the app:
 * - requests Node's HTTP parser refuses before express sees them (raw
 *   non-ASCII or NUL bytes in the target, headers over 16 KiB, both
 *   Content-Length and Transfer-Encoding, ...) get a JSON `{error, code}`
 *   like every other error instead of a bare 400/431 or a silent close;
 * - a slow client cannot hold a socket for long: the headers must arrive
 *   within 15 s and the whole request within 30 s (Node's defaults are 60 s
 *   and 5 min, checked only every 30 s).
 */

import { createServer, type RequestListener, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { apiError, type ErrorCode, httpStatus } from "../errors.ts";
import type { HotRoutes } from "./lean-path.ts";
import { installRawFront, type RawFrontOptions } from "./raw-front.ts";

/** Time allowed for the request line and headers. */
export const HEADERS_TIMEOUT_MS = 15_000;
/** Time allowed for the whole request (headers and body). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node checks those two timeouts (its default, 30 s, would double them). */
const TIMEOUT_CHECK_MS = 1_000;

const REASONS: Partial<Record<number, string>> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/** The code and message for an error of Node's HTTP parser (or its timeouts). */
function classify(err: Error & { code?: string; reason?: string }): { code: ErrorCode; message: string } {
  if (err.code === "HPE_HEADER_OVERFLOW") {
    return { code: "HEADERS_TOO_LARGE", message: "the request line and headers exceed 16 KiB" };
  }
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return {
      code: "REQUEST_TIMEOUT",
      message: `the request did not arrive in time (headers within ${HEADERS_TIMEOUT_MS / 1000} s, all of it within ${REQUEST_TIMEOUT_MS / 1000} s)`,
    };
  }
  // llhttp's `reason` says what it refused, e.g. "Invalid header value char".
  return { code: "BAD_REQUEST", message: `malformed HTTP request: ${err.reason ?? err.message}` };
}

/** A complete HTTP/1.1 response carrying `{error, code}`, closing the connection. */
export function clientErrorResponse(code: ErrorCode, message: string): string {
  const status = httpStatus(code);
  const body = JSON.stringify(apiError(code, message));
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    "Content-Type: application/json; charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    "Connection: close\r\n\r\n" +
    body
  );
}

/**
 * Answers a request the parser refused, as Node's default handler does but
 * with a JSON body: only when the socket is writable and no response has
 * started on it (else the peer would read a corrupted stream), then destroys it.
 */
function onClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) {
    socket.destroy();
    return;
  }
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const { code, message } = classify(err);
    socket.write(clientErrorResponse(code, message));
  }
  socket.destroy();
}

/**
 * Creates the client server for `app` with bounded timeouts and JSON answers to parser errors; with
 * `front`, the hot routes' plainest requests are served by the raw front (raw-front.ts) before node:http.
 */
export function createClientServer(
  app: RequestListener,
  o: {
    /** Shorter timeouts for tests. */
    headersTimeoutMs?: number;
    requestTimeoutMs?: number;
    front?: RawFrontOptions & { routes: HotRoutes };
  } = {},
): Server {
  const server = createServer(
    {
      headersTimeout: o.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      requestTimeout: o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    app,
  );
  server.on("clientError", onClientError);
  if (o.front !== undefined) installRawFront(server, o.front.routes, o.front);
  return server;
}
