/**
 * Requests Node's HTTP parser refuses before the app sees them get a JSON
 * `{error, code}` with the code's status, and slow headers are cut off in
 * bounded time; sent over raw sockets, since no HTTP client sends such bytes.
 */

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { createClientServer, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from "../../../node/src/api/client-server.ts";
import { ERROR_TABLE, type ErrorCode } from "../../../node/src/errors.ts";
import { encodeRequest, type RawReply, rawSend } from "../../hostile/raw-http.ts";

async function listen(t: TestContext, o?: Parameters<typeof createClientServer>[1]): Promise<number> {
  const server = createClientServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end('{"ok":true}');
  }, o);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

function assertJsonError(r: RawReply, code: ErrorCode, what: string): void {
  assert.ok(!r.timedOut, `${what}: no answer`);
  assert.equal(r.status, ERROR_TABLE[code].status, `${what}: ${r.body}`);
  assert.match(r.headers["content-type"] ?? "", /^application\/json/, what);
  assert.equal(r.headers.connection, "close", what);
  const b = r.json as { error?: unknown; code?: unknown };
  assert.equal(b?.code, code, `${what}: ${r.body}`);
  assert.equal(typeof b.error, "string", what);
}

const get = (target: string | Buffer, headers?: Array<[string, string]>) =>
  encodeRequest({ method: "GET", target, ...(headers ? { headers } : {}) });

test("requests the HTTP parser refuses get a JSON error with the code's status", async (t) => {
  const port = await listen(t);
  const cases: Array<[string, Buffer, ErrorCode]> = [
    ["NUL in path", get(Buffer.from("/key/a\x00b", "latin1")), "BAD_REQUEST"],
    ["raw 0xFF in path", get(Buffer.from("/key/\xff", "latin1")), "BAD_REQUEST"],
    ["raw UTF-8 in path", get(Buffer.from("/key/\xc3\xa9?consistency=stale", "latin1")), "BAD_REQUEST"],
    ["header over 16 KiB", get("/livez", [["X-Big", "a".repeat(20_000)]]), "HEADERS_TOO_LARGE"],
    [
      "Content-Length and Transfer-Encoding",
      encodeRequest({
        method: "POST",
        target: "/key",
        headers: [
          ["Content-Length", "9"],
          ["Transfer-Encoding", "chunked"],
        ],
        body: '9\r\n{"smug":1}\r\n0\r\n\r\n',
        noContentLength: true,
      }),
      "BAD_REQUEST",
    ],
    ["header without colon", Buffer.from("GET /livez HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"), "BAD_REQUEST"],
  ];
  for (const [what, bytes, code] of cases) {
    const r = await rawSend(port, bytes, { timeoutMs: 5000 });
    assertJsonError(r, code, what);
    t.diagnostic(`${what}: ${r.status} ${r.body.toString()}`);
  }
  // The server is unharmed: a valid request is still served.
  const ok = await rawSend(port, get("/livez"), { timeoutMs: 5000 });
  assert.equal(ok.status, 200);
});

test("headers trickled too slowly are cut off with REQUEST_TIMEOUT in bounded time", async (t) => {
  assert.ok(HEADERS_TIMEOUT_MS <= 15_000 && REQUEST_TIMEOUT_MS <= 30_000, "production bounds");
  const port = await listen(t, { headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const start = performance.now();
  // A request line, then one header byte every 300 ms, never the blank line.
  const r = await rawSend(
    port,
    [Buffer.from("GET /livez HTTP/1.1\r\nHost: x\r\n"), ...Array.from({ length: 30 }, () => Buffer.from("X"))],
    { timeoutMs: 8000, gapMs: 300 },
  );
  const ms = performance.now() - start;
  assertJsonError(r, "REQUEST_TIMEOUT", "slow headers");
  // Timeouts are checked once a second.
  assert.ok(ms < 3500, `cut off after ${Math.round(ms)} ms`);
});
