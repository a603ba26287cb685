/**
 * A strict reader of one HTTP/1.1 request at the start of a buffer, for the raw front (raw-front.ts).
 * It accepts only what the front serves itself: a complete `GET /key/<key>` or `POST /key` (head and
 * Content-Length body all in the buffer) of the plainest shape. Everything else, including anything
 * merely unusual, gives undefined, and node:http's own parser then reads the bytes and answers (or
 * refuses) as it always does. So this reader can never accept what node:http would refuse: it accepts a
 * strict subset (RFC 9112 tokens, visible ASCII values, no folding, no bare LF, one Host, one
 * Content-Length of digits, required on POST), and leaves out anything whose meaning it does not handle (Transfer-Encoding,
 * Expect, Upgrade, conditional headers, a forwarded request, HTTP/1.0).
 */

import type { IncomingHttpHeaders } from "node:http";
import { hotTarget, plainGet, READ_ROUTE } from "./lean-path.ts";

/** node:http's default limit on the request line and headers (maxHeaderSize). */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Most header lines taken; a request with more goes to node:http. */
const MAX_HEADERS = 64;

/** One request read from the buffer. */
export interface Http1Request {
  method: "GET" | "POST";
  /** The request target as received. */
  url: string;
  /** Index of the "?" in `url`, -1: none. */
  query: number;
  /** The hot route (lean-path.ts's READ_ROUTE or WRITE_ROUTE). */
  route: string;
  /** The headers the routes and forwarding read, names in lower case. */
  headers: IncomingHttpHeaders;
  /** False: the client asked to close the connection after the answer (`Connection: close`). */
  keepAlive: boolean;
  body: Buffer;
  /** Offset just past the request in the buffer. */
  end: number;
}

const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

/** Header names the routes or forwarding read; kept (at most once each). */
const KEPT = new Set(["host", "content-length", "content-type", "authorization", "accept"]);
/** Header names whose meaning only node:http handles: such a request goes there. */
const LEFT = new Set([
  "transfer-encoding",
  "expect",
  "upgrade",
  "if-none-match",
  "if-modified-since",
  "x-raftkv-forwarded",
  "http2-settings",
]);

/** RFC 9110 tchar: the characters of a header name. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/**
 * The complete request at the start of `buf` when the raw front may serve it, else undefined (partial,
 * another route, or anything unusual: node:http takes it). `maxBody` is the largest body accepted.
 */
export function readHttp1Request(buf: Buffer, maxBody: number): Http1Request | undefined {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0 || headEnd + 4 > MAX_HEAD_BYTES) return undefined;
  const head = buf.toString("latin1", 0, headEnd);
  let method: "GET" | "POST";
  let pos: number;
  if (head.startsWith("GET /")) {
    method = "GET";
    pos = 4;
  } else if (head.startsWith("POST /")) {
    method = "POST";
    pos = 5;
  } else return undefined;
  const lineEnd = head.indexOf("\r\n");
  const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const space = line.indexOf(" ", pos);
  if (space < 0 || line.length !== space + 9 || !line.endsWith(" HTTP/1.1")) return undefined;
  const url = line.slice(pos, space);
  const query = url.indexOf("?");
  const route = hotTarget(method, url, query);
  if (route === undefined) return undefined;

  const headers: IncomingHttpHeaders = {};
  let keepAlive = true;
  let connection = false;
  let count = 0;
  let at = lineEnd < 0 ? head.length : lineEnd + 2;
  while (at < head.length) {
    if (++count > MAX_HEADERS) return undefined;
    let next = head.indexOf("\r\n", at);
    if (next < 0) next = head.length;
    const colon = head.indexOf(":", at);
    if (colon <= at || colon >= next) return undefined;
    for (let i = at; i < colon; i++) {
      const c = head.charCodeAt(i);
      if (c >= 128 || TCHAR[c] !== 1) return undefined;
    }
    // Optional whitespace around the value; inside it only visible ASCII, spaces and tabs.
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && isWhite(head.charCodeAt(vs))) vs++;
    while (ve > vs && isWhite(head.charCodeAt(ve - 1))) ve--;
    for (let i = vs; i < ve; i++) {
      const c = head.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c >= 0x7f) return undefined;
    }
    const name = head.slice(at, colon).toLowerCase();
    const value = head.slice(vs, ve);
    at = next + 2;
    if (LEFT.has(name)) return undefined;
    if (name === "connection") {
      const v = value.toLowerCase();
      if (connection || (v !== "keep-alive" && v !== "close")) return undefined;
      connection = true;
      keepAlive = v === "keep-alive";
    } else if (KEPT.has(name)) {
      if (headers[name] !== undefined) return undefined;
      headers[name] = value;
    }
  }
  if (headers.host === undefined) return undefined;

  const declared = headers["content-length"];
  let length = 0;
  if (declared !== undefined) {
    if (!/^[0-9]{1,9}$/.test(declared)) return undefined;
    length = Number(declared);
  } else if (method === "POST") return undefined; // a body framed by the connection's end, or none: node:http's
  if (route === READ_ROUTE && !plainGet(headers)) return undefined;
  if (length > maxBody) return undefined;
  const start = headEnd + 4;
  const end = start + length;
  if (buf.length < end) return undefined;
  return { method, url, query, route, headers, keepAlive, body: buf.subarray(start, end), end };
}

function isWhite(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
