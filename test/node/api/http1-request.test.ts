/**
 * The raw front's request reader (node/src/api/http1-request.ts) accepts only a strict subset of what
 * node:http accepts, and reads it the same way. Fixed cases for each rule, then a differential check:
 * requests mutated at random, and for every one the reader accepts, node:http's own parser (a real
 * server on 127.0.0.1) must have read the same method, target, headers and body and served it.
 */

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { readHttp1Request } from "../../../node/src/api/http1-request.ts";
import { READ_ROUTE, WRITE_ROUTE } from "../../../node/src/api/lean-path.ts";
import { Rng } from "../../../node/src/raft/rng.ts";

const LIMIT = 4096;
const T = { timeout: 60_000 };

const bytes = (s: string) => Buffer.from(s, "latin1");
const post = (body: string, extra = "") =>
  bytes(`POST /key HTTP/1.1\r\nHost: a\r\n${extra}Content-Length: ${Buffer.byteLength(body, "latin1")}\r\n\r\n${body}`);

describe("readHttp1Request: what it accepts", () => {
  test("a plain GET and a plain POST, with the headers the routes read", () => {
    const g = readHttp1Request(
      bytes("GET /key/a%2Fb?consistency=stale HTTP/1.1\r\nHost: x:1\r\nAccept: */*\r\n\r\n"),
      LIMIT,
    );
    assert.ok(g);
    assert.equal(g.method, "GET");
    assert.equal(g.url, "/key/a%2Fb?consistency=stale");
    assert.equal(g.query, 10);
    assert.equal(g.route, READ_ROUTE);
    assert.deepEqual(g.headers, { host: "x:1", accept: "*/*" });
    assert.equal(g.keepAlive, true);
    assert.equal(g.body.length, 0);

    const raw = Buffer.concat([
      post('{"k":1}', "Content-Type:  text/plain \r\nConnection: Close\r\n"),
      bytes("GET /next"),
    ]);
    const p = readHttp1Request(raw, LIMIT);
    assert.ok(p);
    assert.equal(p.route, WRITE_ROUTE);
    assert.equal(p.query, -1);
    assert.equal(p.headers["content-type"], "text/plain", "whitespace around a value is not part of it");
    assert.equal(p.keepAlive, false);
    assert.equal(p.body.toString(), '{"k":1}');
    assert.equal(raw.subarray(p.end).toString(), "GET /next", "end is just past the body");
  });

  test("anything partial, unusual or of another route is left to node:http", () => {
    const left: Array<[string, string]> = [
      ["head not complete", "GET /key/a HTTP/1.1\r\nHost: a\r\n"],
      ["body not complete", "POST /key HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n{}"],
      ["no Host", "GET /key/a HTTP/1.1\r\n\r\n"],
      ["two Hosts", "GET /key/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
      ["HTTP/1.0", "GET /key/a HTTP/1.0\r\nHost: a\r\n\r\n"],
      ["lower-case method", "get /key/a HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["HEAD", "HEAD /key/a HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["PUT", "PUT /key HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"],
      ["another path", "GET /status HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["no key", "GET /key/ HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["POST to a key", "POST /key/a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"],
      ["absolute form", "GET http://a/key/a HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["a fragment", "GET /key/a#x HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["two spaces", "GET /key/a  HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["chunked", "POST /key HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"],
      ["POST without a length", "POST /key HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["two lengths", "POST /key HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"],
      ["a signed length", "POST /key HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n{}"],
      ["a length of ten digits", "POST /key HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000002\r\n\r\n{}"],
      ["a body over the limit", `POST /key HTTP/1.1\r\nHost: a\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`],
      ["a GET with a body", "GET /key/a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"],
      ["Expect", "POST /key HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"],
      ["Upgrade", "GET /key/a HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"],
      ["Connection: upgrade", "GET /key/a HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"],
      ["two Connection headers", "GET /key/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: close\r\n\r\n"],
      ["If-None-Match", "GET /key/a HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n"],
      ["forwarded by a node", "GET /key/a HTTP/1.1\r\nHost: a\r\nX-Raftkv-Forwarded: 1\r\n\r\n"],
      ["space before the colon", "GET /key/a HTTP/1.1\r\nHost : a\r\n\r\n"],
      ["folded value", "GET /key/a HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"],
      ["bare LF", "GET /key/a HTTP/1.1\nHost: a\r\n\r\n"],
      ["CR in a value", "GET /key/a HTTP/1.1\r\nHost: a\rb\r\n\r\n"],
      ["NUL in a value", "GET /key/a HTTP/1.1\r\nHost: a\u0000\r\n\r\n"],
      ["obs-text in a value", "GET /key/a HTTP/1.1\r\nHost: \u00e9\r\n\r\n"],
      ["no colon", "GET /key/a HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"],
      ["empty name", "GET /key/a HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"],
      ["leading blank line", "\r\nGET /key/a HTTP/1.1\r\nHost: a\r\n\r\n"],
      ["head over 16 KiB", `GET /key/a HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(16 * 1024)}\r\n\r\n`],
      ["65 headers", `GET /key/a HTTP/1.1\r\nHost: a\r\n${"X-A: 1\r\n".repeat(64)}\r\n`],
    ];
    for (const [what, raw] of left) assert.equal(readHttp1Request(bytes(raw), LIMIT), undefined, what);
  });
});

/** What node:http read of one request. */
interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: Record<string, string | undefined>;
  body: string;
}

const COMPARED = ["host", "content-length", "content-type", "authorization", "accept"] as const;

describe("readHttp1Request: never accepts what node:http reads otherwise", T, () => {
  let server: Server;
  let port: number;
  let seen: Seen[] = [];
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const headers: Record<string, string | undefined> = {};
        for (const h of COMPARED) headers[h] = req.headers[h] as string | undefined;
        seen.push({ method: req.method, url: req.url, headers, body: Buffer.concat(chunks).toString("latin1") });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Sends `raw` and waits for the first answer (or the close); returns its status line. */
  function send(raw: Buffer): Promise<string> {
    return new Promise((resolve) => {
      const sock = connect(port, "127.0.0.1");
      let text = "";
      const done = () => {
        clearTimeout(timer);
        sock.destroy();
        resolve(text.split("\r\n")[0] ?? "");
      };
      const timer = setTimeout(done, 2000);
      sock.on("data", (d) => {
        text += d.toString("latin1");
        if (text.includes("\r\n\r\n")) done();
      });
      sock.on("error", done);
      sock.on("close", done);
      sock.write(raw);
    });
  }

  const SEEDS = [
    "GET /key/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n\r\n",
    "GET /key/x%2Fy?consistency=stale HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nUser-Agent: t\r\n\r\n",
    'POST /key HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"k":"v"}',
    'POST /key?redirect=0 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
  ];
  const PIECES = [
    "\r",
    "\n",
    "\r\n",
    "\u0000",
    " ",
    "\t",
    ":",
    "\u0080",
    "\u00ff",
    "a",
    "/",
    "?",
    "#",
    "%",
    "0",
    "9",
    ",",
    "\r\nTransfer-Encoding: chunked",
    "\r\nContent-Length: 5",
    "\r\nHost: y",
    "\r\nX-A : b",
    "\r\n folded",
    "\r\nConnection: upgrade",
    "\r\nContent-Length: 0",
    "\r\nExpect: 100-continue",
    "\r\ncontent-length: 9",
  ];

  function mutate(r: Rng, s: string): string {
    const n = r.int(1, 4);
    for (let i = 0; i < n; i++) {
      const at = r.int(0, s.length + 1);
      const kind = r.int(0, 5);
      if (kind === 0) s = s.slice(0, at) + r.pick(PIECES) + s.slice(at);
      else if (kind === 1) s = s.slice(0, at) + s.slice(at + r.int(1, 4));
      else if (kind === 2) s = s.slice(0, at) + r.pick(PIECES) + s.slice(at + 1);
      else if (kind === 3) s = s.slice(0, at) + s.charAt(at).toUpperCase() + s.slice(at + 1);
      else
        s = s.replace(
          /Content-Length: \d+/,
          `Content-Length: ${r.pick(["0", "09", "8", "10", "+9", "9 9", "0x9", ""])}`,
        );
    }
    return s;
  }

  test("random mutations of hot requests: accepted ones are read alike by node:http and served", async () => {
    const r = new Rng(20261206);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      const text = mutate(r, r.pick(SEEDS));
      const raw = bytes(text);
      const got = readHttp1Request(raw, LIMIT);
      if (got === undefined) {
        refused++;
        continue;
      }
      accepted++;
      seen = [];
      const status = await send(raw);
      // Bytes after the request are the next one's: node:http may refuse those first, but not this one.
      if (got.end === raw.length) assert.equal(status, "HTTP/1.1 200 OK", `node:http refused: ${JSON.stringify(text)}`);
      for (let w = 0; w < 50 && seen.length === 0; w++) await new Promise((res) => setTimeout(res, 10));
      const first = seen[0];
      assert.ok(first, JSON.stringify(text));
      assert.equal(first.method, got.method, JSON.stringify(text));
      assert.equal(first.url, got.url, JSON.stringify(text));
      for (const h of COMPARED) assert.equal(first.headers[h], got.headers[h], `${h}: ${JSON.stringify(text)}`);
      assert.equal(first.body, got.body.toString("latin1"), JSON.stringify(text));
    }
    // Both sides must be exercised, or the check proves nothing.
    assert.ok(accepted >= 100 && refused >= 100, `accepted ${accepted}, refused ${refused}`);
  });
});
