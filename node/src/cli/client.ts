/**
 * The CLI's HTTP client: one JSON request to a node with fetch. Failures
 * become `CliFailure` with the exit code and the one line to print.
 */

import { EXIT, exitFor } from "./exit-codes.ts";

/** A failure to report: print `message` on stderr and exit with `exit`. */
export class CliFailure extends Error {
  readonly exit: number;
  /** The server's error body, when it sent one. */
  readonly body: { error?: string; code?: string; current?: unknown; leader?: string } | undefined;
  /** Builds a failure with its exit code. */
  constructor(exit: number, message: string, body?: CliFailure["body"]) {
    super(message);
    this.exit = exit;
    this.body = body;
  }
}

/** Where and how to send requests. */
export interface Target {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:11000. */
  base: string;
  timeoutMs: number;
  /** Sent as `Authorization: Bearer` on admin calls. */
  secret: string | undefined;
}

/** Normalises a node address: `host:port` gets http://, trailing slashes go. Throws on nonsense. */
export function baseUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new CliFailure(EXIT.USAGE, `not a URL: ${raw}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new CliFailure(EXIT.USAGE, `${raw}: only http:// and https:// URLs are supported`);
  }
  if (u.search !== "" || u.hash !== "") throw new CliFailure(EXIT.USAGE, `${raw}: the URL must not have a query`);
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

/** Percent-encodes a key for a path: every reserved character, `/` included, so the key is one segment. */
export function encodeKey(key: string): string {
  return encodeURIComponent(key);
}

/**
 * Sends one request and returns the parsed JSON of a 2xx answer. A non-2xx
 * answer throws CliFailure with the server's code and message.
 */
export async function request(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
  admin = false,
): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (admin && t.secret !== undefined) headers.authorization = `Bearer ${t.secret}`;
  const url = `${t.base}${path}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(t.timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    throw new CliFailure(EXIT.FAILED, `cannot reach ${t.base}: ${describeFetchError(e, t.timeoutMs)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new CliFailure(EXIT.FAILED, `${method} ${url}: HTTP ${res.status}, not JSON: ${snippet}`);
  }
  if (res.ok) return parsed;
  const err = (typeof parsed === "object" && parsed !== null ? parsed : {}) as NonNullable<CliFailure["body"]>;
  const code = typeof err.code === "string" ? err.code : undefined;
  let line = `${code ?? `HTTP ${res.status}`}: ${err.error ?? text}`;
  if (err.code === "CAS_MISMATCH") line += `; current value: ${JSON.stringify(err.current ?? null)}`;
  if (err.leader) line += ` (leader: ${err.leader})`;
  const retry = res.headers.get("retry-after");
  if (retry !== null) line += ` (retry after ${retry}s)`;
  throw new CliFailure(exitFor(code), line, err);
}

function describeFetchError(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && e.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === "string") return cause.code;
  if (typeof cause?.message === "string") return cause.message;
  return e instanceof Error ? e.message : String(e);
}
