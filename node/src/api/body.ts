/**
 * Request bodies, read by hand instead of express.json() so every failure has
 * our error shape, and so any content type is accepted when the body is JSON:
 * hraftd users run `curl -d '{"k":"v"}'`, which sends
 * application/x-www-form-urlencoded.
 */

import type { IncomingMessage } from "node:http";
import { ApiFailure, ClientGone } from "./failure.ts";

/** Deepest nesting of arrays and objects accepted in a body (the outer object counts as 1). */
export const MAX_JSON_DEPTH = 64;

/** How long a client may take to send a whole body (ApiOptions.bodyTimeoutMs); slower ones are cut off. */
export const BODY_TIMEOUT_MS = 10_000;

/**
 * Reads the whole body, refusing more than `limit` bytes with BODY_TOO_LARGE,
 * and a body still incomplete after `timeoutMs` with BAD_BODY (a client
 * trickling bytes must not hold the request for Node's 5-minute limit).
 * On refusal it stops reading; the error handler then answers with
 * `Connection: close`, so a client still sending is cut off instead of hanging.
 */
export function readRawBody(req: IncomingMessage, limit: number, timeoutMs = BODY_TIMEOUT_MS): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    req.pause();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      cleanup();
      req.pause();
      reject(
        new ApiFailure("BAD_BODY", `the body did not arrive within ${timeoutMs} ms`, undefined, {
          Connection: "close",
        }),
      );
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("aborted", onGone);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onGone = () => {
      cleanup();
      reject(new ClientGone("client closed the connection while sending the body"));
    };
    // "close" before "end" means the body was cut short.
    const onClose = () => {
      if (!req.complete) onGone();
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("aborted", onGone);
    req.on("close", onClose);
  });
}

function tooLarge(limit: number): ApiFailure {
  return new ApiFailure("BODY_TOO_LARGE", `the body is larger than ${limit} bytes`, undefined, {
    Connection: "close",
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Parses a body as JSON: BAD_JSON when it is empty, not UTF-8 or not JSON;
 * BAD_BODY when nested deeper than MAX_JSON_DEPTH.
 */
export function parseJson(raw: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(raw); // also drops a leading BOM
  } catch {
    throw new ApiFailure("BAD_JSON", "the body is not valid UTF-8");
  }
  if (text.trim() === "") throw new ApiFailure("BAD_JSON", "the body is empty; expected JSON");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) throw new ApiFailure("BAD_JSON", `the body is not valid JSON: ${e.message}`);
    throw new ApiFailure("BAD_BODY", `the body is nested too deeply (limit ${MAX_JSON_DEPTH})`);
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) {
    throw new ApiFailure("BAD_BODY", `the body is nested ${depth} levels deep; the limit is ${MAX_JSON_DEPTH}`);
  }
  // JSON.parse reads 1e999 as Infinity, which JSON.stringify would store as null.
  if (hasNonFinite(value)) {
    throw new ApiFailure("BAD_BODY", "the body has a number too large to represent (it would be stored as null)");
  }
  return value;
}

/** True when a parsed JSON value holds Infinity or -Infinity anywhere (iterative: no stack limit). */
function hasNonFinite(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (typeof v === "object" && v !== null) {
      for (const x of Object.values(v)) stack.push(x);
    }
  }
  return false;
}

/** Parses a body that must be a JSON object (BAD_BODY otherwise). */
export function parseJsonObject(raw: Buffer, what: string): Record<string, unknown> {
  const v = parseJson(raw);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ApiFailure("BAD_BODY", `${what} must be a JSON object, not ${describe(v)}`);
  }
  return v as Record<string, unknown>;
}

/** A short name for a JSON value's type, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** Maximum nesting depth of valid JSON text, found by a linear scan (no recursion, so no stack limit). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Rejects fields other than `allowed` in a request object (typos must not be silently ignored). */
export function onlyFields(obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new ApiFailure("BAD_BODY", `${what}: unknown field ${JSON.stringify(k)} (allowed: ${allowed.join(", ")})`);
    }
  }
}
