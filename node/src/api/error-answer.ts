/**
 * What the API answers when a handler fails, decided in one place for
 * express's final error handler (app.ts) and the lean path (lean-path.ts), so
 * both answer a failure alike: NodeError and ApiFailure by their code,
 * express's own status-coded errors by their status, anything else is a bug
 * (INTERNAL, logged).
 */

import type { ErrorCode } from "../errors.ts";
import type { Logger } from "./app.ts";
import { ApiFailure, ClientGone, clientGone, type ErrorExtra } from "./failure.ts";
import type { HotRequest, HotResponse } from "./hot-http.ts";
import { NodeError } from "./kv-node.ts";

/** The `{error, code}` answer to send (with sendError or sendPlainError). */
export interface ErrorAnswer {
  code: ErrorCode;
  message: string;
  extra?: ErrorExtra | undefined;
  headers?: Record<string, string>;
}

/**
 * Settles a request whose handler threw `err`. Undefined when nothing can be
 * answered: the client is gone or the response already started (the
 * connection is then destroyed). Otherwise the answer to send; a body not
 * read yet is no longer read and the connection is marked to close after it.
 */
export function errorAnswer(
  err: unknown,
  req: HotRequest,
  res: HotResponse,
  path: string,
  logger: Logger,
): ErrorAnswer | undefined {
  if (err instanceof ClientGone || clientGone(req, res)) {
    res.destroy();
    return undefined;
  }
  if (res.headersSent) {
    logger.error("error after the response started", { path, error: String(err) });
    res.destroy();
    return undefined;
  }
  // A body we did not read must not be drained at the client's pace: close after answering.
  if (!req.complete) {
    res.setHeader("Connection", "close");
    req.pause();
  }
  if (err instanceof ApiFailure) {
    return { code: err.code, message: err.message, extra: err.extra, headers: err.headers };
  }
  if (err instanceof NodeError) {
    if (err.code === "INTERNAL") logger.error("node error", { path, error: err.message });
    const extra =
      err.code === "NOT_LEADER" || err.code === "NO_LEADER" ? { leader: err.leader?.httpUrl ?? "" } : undefined;
    return { code: err.code, message: err.message, extra };
  }
  const code = expressErrorCode(err);
  if (code !== undefined) return { code, message: err instanceof Error ? err.message : String(err) };
  logger.error("internal error", {
    method: req.method,
    path,
    error: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });
  return { code: "INTERNAL", message: "internal error; the node's log has the details" };
}

/** The status-code-only errors express itself may raise (bad percent-encoding in a path parameter). */
function expressErrorCode(err: unknown): ErrorCode | undefined {
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status;
  if (typeof status !== "number" || status < 400 || status >= 500) return undefined;
  if (status === 413) return "BODY_TOO_LARGE";
  if (status === 404) return "NOT_FOUND";
  return "BAD_PARAM";
}
