/** HTTP helpers for the API tests: JSON requests with fetch, and raw requests when fetch would rewrite them. */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { freePort } from "../../../scripts/free-port.ts";

/** A finished response: status, headers, and the body parsed as JSON (or the text when it is not JSON). */
export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** Sends a request; `body` strings are sent as is, anything else as JSON. */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const init: RequestInit = { method, headers, redirect: "manual", signal: AbortSignal.timeout(5000) };
  if (body !== undefined)
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Asserts an error reply: status, code, and the `{error, code}` shape. */
export function assertError(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
  const b = r.body as { error?: unknown; code?: unknown };
  assert.equal(b.code, code, r.text);
  assert.equal(typeof b.error, "string");
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  if (status === 503) assert.ok(r.headers.get("retry-after"), "every 503 carries Retry-After");
}

/**
 * Writes raw bytes to the server and collects everything it sends back until it
 * closes the connection (or `ms` passes). `host:port` comes from `url`.
 */
export function rawExchange(url: string, data: string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(u.port), u.hostname);
    let text = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false });
    }, ms);
    sock.on("data", (d) => {
      text += d.toString("latin1");
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    sock.write(data);
  });
}

/** A port nothing listens on (bound, then released), from the one picker. */
export { freePort };
