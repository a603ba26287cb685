/**
 * A seeded request fuzzer against a real 3-node cluster's client API.
 *
 * Hostile requests (malformed or truncated JSON, wrong content types, keys
 * and bodies around and past the limits, deep nesting, bad percent-encodings
 * and invalid UTF-8 in bodies and paths, unknown or repeated query
 * parameters, unknown routes, wrong methods, bytes Node's HTTP parser
 * refuses) must get a 4xx with a JSON {error, code} whose status matches the
 * code (or, for what the HTTP parser refuses before the app sees it, a bare
 * 4xx or a closed connection), never a 5xx or a hang, and must not change
 * any node's data: every node's keys are read with stale reads before and
 * after each batch and compared. Unusual but valid writes (unicode keys at
 * the byte limit, NUL, RTL, emoji, lone surrogates in values, nesting at the
 * depth limit, values near the body limit) must round-trip exactly on every
 * node. Slow-loris bodies are cut off while other requests keep being served.
 *
 * RAFTKV_FUZZ_SEED=N replays a run; RAFTKV_FUZZ_BATCHES=N changes its length.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { ERROR_TABLE, type ErrorCode } from "../../node/src/errors.ts";
import { Rng } from "../../node/src/raft/rng.ts";
import { TestCluster } from "../cluster/harness.ts";
import { encodeRequest, entriesOf, pool, type RawReply, type RawRequest, rawSend, readAll } from "./raw-http.ts";

const SEED = Number(process.env.RAFTKV_FUZZ_SEED ?? 20261123);
const BATCHES = Number(process.env.RAFTKV_FUZZ_BATCHES ?? 8);
const PER_BATCH = 300;
const SECRET = "hostile-api-secret";
const MIB = 1_048_576;

/**
 * What a case must get: `error` a 4xx JSON error (with `status` or `code` if
 * given); `parser` a bare 4xx or a closed connection (Node's HTTP parser
 * refuses it) or a JSON error; `read` anything below 500 (a valid read).
 */
interface Case {
  name: string;
  req: Buffer;
  expect: "error" | "parser" | "read";
  status?: number;
  code?: ErrorCode;
}

type Gen = (r: Rng) => Case;

const enc = (s: string) => encodeURIComponent(s);
const repeat = (s: string, n: number) => s.repeat(n);
const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

function req(method: string, target: string | Buffer, body?: string | Buffer, headers: Array<[string, string]> = []) {
  const r: RawRequest = { method, target, headers };
  if (body !== undefined) r.body = body;
  return encodeRequest(r);
}

const error = (name: string, b: Buffer, status?: number, code?: ErrorCode): Case => {
  const c: Case = { name, req: b, expect: "error" };
  if (status !== undefined) c.status = status;
  if (code !== undefined) c.code = code;
  return c;
};

/** Percent-encodings that are not UTF-8 or not well-formed. */
const BAD_ESCAPES = [
  "%ED%A0%80", // lone high surrogate (CESU-8)
  "%ED%BF%BF", // lone low surrogate
  "%C0%AF", // overlong '/'
  "%C0%80", // overlong NUL
  "%E0%80%AF", // overlong, 3 bytes
  "%F0%80%80%AF", // overlong, 4 bytes
  "%F8%88%80%80%80", // 5-byte form
  "%F4%90%80%80", // above U+10FFFF
  "%FF",
  "%FE%FF",
  "%80",
  "%E2%82", // truncated euro sign
  "%",
  "%Z1",
  "a%",
  "%%",
  "%E2%82%AC%", // valid then truncated
];

/** Keys the API must refuse (raw, to put in a JSON body). */
const BAD_BODY_KEYS = [
  "",
  "\ud800",
  "x\udfffy",
  repeat("k", 1025),
  `${repeat("😀", 256)}a`, // 1025 bytes
  repeat("€", 342), // 1026 bytes
];

/** Valid keys with unusual characters (for reads, and for the write batch). */
const ODD_KEYS = [
  "🦄",
  "\u202Eevil\u202C", // RTL override
  "مرحبا",
  "a\u0000b",
  "\u0000",
  "e\u0301",
  "\uFEFFbom",
  "\uFFFF",
  "\u200B",
  "\u{10FFFF}",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "/",
  "../x",
  "%2F",
  "?",
  "#",
  " ",
  "+",
  "a+b",
  "\r\n",
  "\t",
  repeat("k", 1024),
  repeat("😀", 256), // exactly 1024 bytes
  `${repeat("€", 341)}a`, // exactly 1024 bytes
];

function truncatedObject(r: Rng): string {
  const full = JSON.stringify({ [`t${r.int(0, 1000)}`]: { a: [1, 2, { b: "ü😀" }], c: "x".repeat(r.int(0, 50)) } });
  return full.slice(0, r.int(0, full.length)); // any proper prefix of an object is invalid
}

function randomBytes(r: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(0, 256);
  b[0] = 0xff; // never valid UTF-8, so never accidentally a valid body
  return b;
}

const writeRoutes = (key: string): Array<[string, string]> => [
  ["POST", "/key"],
  ["POST", `/cas/${enc(key)}`],
];

/** The generators of hostile requests; each is picked with equal chance. */
const GENERATORS: Gen[] = [
  // Truncated JSON to every body-taking route.
  (r) => {
    const [m, p] = r.pick([...writeRoutes("fz"), ["POST", "/admin/members"], ["POST", "/admin/transfer-leader"]]);
    const auth: Array<[string, string]> = p.startsWith("/admin") ? [["Authorization", `Bearer ${SECRET}`]] : [];
    const body = truncatedObject(r);
    // An empty transfer-leader body is valid (the leader picks); keep it non-empty.
    return error(`truncated JSON to ${p}`, req(m, p, p === "/admin/transfer-leader" && body === "" ? "{" : body, auth));
  },
  // Garbage and invalid UTF-8 bodies.
  (r) => {
    const [m, p] = r.pick(writeRoutes("fz"));
    return error(`random bytes to ${p}`, req(m, p, randomBytes(r, r.int(1, 300))), 400, "BAD_JSON");
  },
  (r) => {
    const bad = r.pick(["\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf8\x88\x80\x80\x80", "\x80"]);
    const inKey = r.chance(0.5);
    const text = inKey ? `{"k${bad}":1}` : `{"k":"v${bad}"}`;
    const [m, p] = r.pick(writeRoutes("fz"));
    const body = p === "/key" ? Buffer.from(text, "latin1") : Buffer.from(`{"expect":null,"value":"${bad}"}`, "latin1");
    return error(`invalid UTF-8 ${JSON.stringify(bad)} in a body to ${p}`, req(m, p, body), 400, "BAD_JSON");
  },
  // Bodies that are JSON but not an object, or objects with a bad key or a null value: nothing is written.
  (r) => {
    const body = r.pick(["[]", "[1]", "1", '"s"', "true", "null", "  ", "", "\uFEFF", '{"a":1}{"b":2}', "{'a':1}"]);
    return error(`non-object body ${JSON.stringify(body)}`, req("POST", "/key", body), 400);
  },
  (r) => {
    const bad = r.pick(BAD_BODY_KEYS);
    const body = JSON.stringify({ [`good${r.int(0, 1e6)}`]: 1, [bad]: 2 });
    return error(
      `bad key (${Buffer.byteLength(bad)} bytes) among good ones`,
      req("POST", "/key", body),
      400,
      "BAD_KEY",
    );
  },
  (r) => {
    const k = `good${r.int(0, 1e6)}`;
    const body = r.pick([
      `{"${k}":1,"n":null}`,
      `{"${k}":1,"${k}":null}`,
      '{"__proto__":null}',
      `{"${k}":{"deep":1e999}}`,
      `{"${k}":-1e400}`,
      `{"${k}":[1,2,1e999]}`,
    ]);
    return error(`null or non-finite value: ${body}`, req("POST", "/key", body), 400, "BAD_BODY");
  },
  // Nesting past the limit (the limit itself is in the write batch).
  (r) => {
    const depth = r.pick([65, 66, 100, 1000, 100_000]);
    const [m, p] = r.pick(writeRoutes("fz"));
    const body = p === "/key" ? `{"deep":${nested(depth - 1)}}` : `{"expect":null,"value":${nested(depth - 1)}}`;
    return error(`nesting ${depth} to ${p}`, req(m, p, body), 400, "BAD_BODY");
  },
  // Bodies past MAX_BODY_BYTES, declared or streamed (chunked, no length).
  (r) => {
    const size = MIB + r.int(1, 3) * 1024;
    const body = `{"big":"${"x".repeat(size - 10)}"}`;
    if (r.chance(0.5)) return error(`${size}-byte body`, req("POST", "/key", body), 413, "BODY_TOO_LARGE");
    const chunked = Buffer.from(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    const b = encodeRequest({
      method: "POST",
      target: "/key",
      headers: [["Transfer-Encoding", "chunked"]],
      body: chunked,
      noContentLength: true,
    });
    return error(`${size}-byte chunked body`, b, 413, "BODY_TOO_LARGE");
  },
  // Content types and encodings the API does not decode, with bodies that are therefore not JSON.
  (r) => {
    const [ct, body] = r.pick<[string, Buffer]>([
      ["application/xml", Buffer.from("<a>1</a>")],
      [
        "multipart/form-data; boundary=x",
        Buffer.from('--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--'),
      ],
      ["application/x-www-form-urlencoded", Buffer.from("a=1&b=2")],
      ["application/json; charset=utf-16", Buffer.from('{"a":1}', "utf16le")],
      ["application/json", Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('{"a":1}', "utf16le")])],
      ["application/json", gzipSync('{"gz":1}')],
      ["application/octet-stream", Buffer.from([0, 1, 2, 3])],
    ]);
    const headers: Array<[string, string]> = [["Content-Type", ct]];
    if (body[0] === 0x1f) headers.push(["Content-Encoding", "gzip"]);
    return error(`content type ${ct} with a non-JSON body`, req("POST", "/key", body, headers), 400);
  },
  // Bad keys in paths, for every method that takes one: refused, and nothing is written.
  (r) => {
    const bad = r.pick([...BAD_ESCAPES, enc(repeat("k", 1025)), enc(repeat("😀", 257)), "%ED%A0%80abc"]);
    const [m, p, body] = r.pick<[string, string, string | undefined]>([
      ["GET", `/key/${bad}?consistency=stale`, undefined],
      ["GET", `/key/${bad}`, undefined],
      ["DELETE", `/key/${bad}`, undefined],
      ["POST", `/cas/${bad}`, '{"expect":null,"value":1}'],
    ]);
    return error(`bad key ${bad.slice(0, 30)} in ${m} path`, req(m, p, body), 400);
  },
  // Query parameters: unknown, repeated, malformed, badly encoded; on writes too (nothing may be written).
  (r) => {
    const q = r.pick([
      "x=1",
      "consistency=stale&consistency=stale",
      "consistency=STALE",
      "consistency=",
      "consistency=stale%00",
      "redirect=maybe",
      "redirect=1&redirect=0",
      "=x",
      "consistency=st%ale",
      `consistency=${BAD_ESCAPES[r.int(0, BAD_ESCAPES.length)]}`,
      "redirect=%FF",
      "%FF=1",
      `${"p".repeat(2000)}=1`,
    ]);
    const [m, p, body] = r.pick<[string, string, string | undefined]>([
      ["GET", "/key/fz", undefined],
      ["POST", "/key", `{"qp${r.int(0, 1e6)}":1}`],
      ["POST", "/cas/qp", '{"expect":null,"value":1}'],
      ["DELETE", "/key/fz", undefined],
      ["GET", "/keys", undefined],
    ]);
    return error(`?${q.slice(0, 40)} on ${m} ${p}`, req(m, `${p}?${q}`, body), 400, "BAD_PARAM");
  },
  (r) => {
    const q = r.pick([
      "limit=0",
      "limit=-1",
      "limit=10001",
      "limit=1e3",
      "limit=99999999999999999999",
      "limit=1.5",
      "limit=%201",
      "limit=0x10",
      "prefix=%ED%A0%80",
      `prefix=${enc(repeat("k", 1025))}`,
      "after=%FF",
      "after=%C0%AF",
      "prefix=a&prefix=b",
      "limit=1&limit=2",
      "cursor=x",
      "consistency=strong",
    ]);
    return error(`GET /keys?${q.slice(0, 40)}`, req("GET", `/keys?${q}`), 400, "BAD_PARAM");
  },
  (r) => {
    const p = r.pick(["/status", "/openapi.json", "/readyz"]);
    const q = r.pick(["x=1", "noleader=2", "noleader&noleader", "%FF"]);
    return error(`${p}?${q}`, req("GET", `${p}?${q}`), 400, "BAD_PARAM");
  },
  // CAS bodies of the wrong shape; and a mismatch on a key never written (409, no write).
  (r) => {
    const body = r.pick([
      "{}",
      '{"expect":null}',
      '{"expect":null,"value":1,"delete":true}',
      '{"expect":null,"delete":"yes"}',
      '{"expect":null,"delete":false}',
      '{"expect":null,"value":null}',
      '{"expect":null,"value":1,"extra":1}',
      '{"value":1}',
      "[]",
      '{"expect":1e999,"value":1}',
      '{"expect":null,"value":{"a":1e999}}',
    ]);
    return error(`POST /cas body ${body}`, req("POST", `/cas/cas-${r.int(0, 1e6)}`, body), 400);
  },
  (r) => {
    const body = JSON.stringify({ expect: `never-${r.int(0, 1e9)}`, value: 1 });
    return error(
      "CAS mismatch on an absent key",
      req("POST", `/cas/never-${r.int(0, 1e6)}`, body),
      409,
      "CAS_MISMATCH",
    );
  },
  // Admin: no or wrong secret (401); the right secret with malformed bodies or ids (4xx).
  (r) => {
    const auth = r.pick<Array<[string, string]>>([
      [],
      [["Authorization", "Bearer nope"]],
      [["Authorization", `Bearer ${SECRET}x`]],
      [["Authorization", `Basic ${Buffer.from(`a:${SECRET}`).toString("base64")}`]],
      [["Authorization", SECRET]],
      [["Authorization", "Bearer"]],
      [["Authorization", `Bearer ${SECRET.slice(1)}`]],
    ]);
    const [m, p, body] = r.pick<[string, string, string | undefined]>([
      [
        "POST",
        "/admin/members",
        '{"id":"n9","raftAddr":"127.0.0.1:1","httpUrl":"http://127.0.0.1:2","incarnation":"x"}',
      ],
      ["POST", "/admin/members/node2/promote", undefined],
      ["DELETE", "/admin/members/node2", undefined],
      ["POST", "/admin/transfer-leader", "{}"],
    ]);
    return error(
      `${m} ${p} with auth ${JSON.stringify(auth[0]?.[1] ?? "none").slice(0, 20)}`,
      req(m, p, body, auth),
      401,
    );
  },
  (r) => {
    const auth: Array<[string, string]> = [["Authorization", `Bearer ${SECRET}`]];
    const [m, p, body] = r.pick<[string, string, string | undefined]>([
      ["POST", "/admin/members", "{}"],
      ["POST", "/admin/members", '{"id":"BAD ID","raftAddr":"127.0.0.1:1","httpUrl":"http://127.0.0.1:2"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"nope","httpUrl":"http://127.0.0.1:2"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"127.0.0.1:99999","httpUrl":"http://127.0.0.1:2"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"127.0.0.1:1","httpUrl":"ftp://x"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"127.0.0.1:1","httpUrl":"http://u:p@x"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"127.0.0.1:1","httpUrl":"http://x","incarnation":"a b"}'],
      ["POST", "/admin/members", '{"id":"n9","raftAddr":"127.0.0.1:1","httpUrl":"http://x","role":"voter"}'],
      ["POST", "/admin/members", `{"id":"${"n".repeat(300)}","raftAddr":"127.0.0.1:1","httpUrl":"http://x"}`],
      ["POST", "/admin/members", "[]"],
      ["POST", "/admin/members/BAD/promote", undefined],
      ["POST", `/admin/members/${BAD_ESCAPES[r.int(0, BAD_ESCAPES.length)]}/promote`, undefined],
      ["POST", "/admin/members/nobody-here/promote", undefined],
      ["DELETE", "/admin/members/UPPER", undefined],
      ["DELETE", "/admin/members/nobody-here", undefined],
      ["POST", "/admin/transfer-leader", '{"id":5}'],
      ["POST", "/admin/transfer-leader", '{"id":"nobody-here"}'],
      ["POST", "/admin/transfer-leader", '{"to":"node1"}'],
      ["POST", "/admin/transfer-leader", "[1]"],
    ]);
    return error(`${m} ${p} ${body ?? ""}`.slice(0, 80), req(m, p, body, auth));
  },
  // Wrong methods on known routes: 405 with Allow.
  (r) => {
    const [m, p] = r.pick<[string, string]>([
      ["PUT", "/key/fz"],
      ["PATCH", "/key/fz"],
      ["POST", "/key/fz"],
      ["PUT", "/key"],
      ["PATCH", "/keys"],
      ["POST", "/keys"],
      ["DELETE", "/keys"],
      ["POST", "/status"],
      ["DELETE", "/livez"],
      ["PUT", "/readyz"],
      ["POST", "/openapi.json"],
      ["GET", "/cas/fz"],
      ["DELETE", "/cas/fz"],
      ["PUT", "/admin/members"],
      ["GET", "/admin/members"],
      ["GET", "/admin/transfer-leader"],
      ["TRACE", "/key"],
      ["PROPFIND", "/key/fz"],
      ["MKCOL", "/keys"],
      ["LOCK", "/status"],
      ["POST", "/metrics"],
    ]);
    return error(`${m} ${p}`, req(m, p, m === "GET" ? undefined : '{"m":1}'), 405, "METHOD_NOT_ALLOWED");
  },
  (r) => {
    const [m, p] = r.pick<[string, string]>([
      ["GET", "/key"],
      ["DELETE", "/key"],
      ["GET", "/key/"],
      ["POST", "/cas"],
      ["POST", "/cas/"],
    ]);
    return error(`${m} ${p} (no key)`, req(m, p), 400, "BAD_KEY");
  },
  // Unknown routes, including ones near real ones, traversal and long paths.
  (r) => {
    const p = r.pick([
      `/zz-${r.int(0, 1e9)}`,
      "/key2",
      "//key/a",
      "/KEY/a",
      "/Keys",
      "/raft/v1/append",
      "/raft/v1/vote",
      "/admin",
      "/admin/members/a/b/c",
      "/metricsx",
      "/../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/.env",
      "/keys/extra/segments",
      `/${"a".repeat(r.int(1000, 6000))}`,
      `/${BAD_ESCAPES[r.int(0, BAD_ESCAPES.length)]}`,
      "/%00",
      "/key%2Fa",
    ]);
    const m = r.pick(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]);
    return error(
      `${m} ${p.slice(0, 40)}`,
      req(m, p, m === "GET" || m === "OPTIONS" ? undefined : "{}"),
      404,
      "NOT_FOUND",
    );
  },
  // Valid reads of odd keys and prefixes: must be answered (they change nothing).
  (r) => {
    const k = r.pick(ODD_KEYS);
    const c = r.pick(["?consistency=stale", "", "?consistency=linearizable", "?consistency=stale&redirect=0"]);
    return {
      name: `GET odd key ${JSON.stringify(k).slice(0, 30)}${c}`,
      req: req("GET", `/key/${enc(k)}${c}`),
      expect: "read",
    };
  },
  (r) => {
    const q = r.pick([
      `prefix=${enc(r.pick(ODD_KEYS))}&consistency=stale`,
      `after=${enc(r.pick(ODD_KEYS))}&limit=${r.int(1, 10001)}&consistency=stale`,
      "limit=10000",
      "prefix=a+b&consistency=stale",
      "consistency=stale&&&",
    ]);
    return { name: `GET /keys?${q.slice(0, 40)}`, req: req("GET", `/keys?${q}`), expect: "read" };
  },
  (r) => {
    const [m, p] = r.pick<[string, string]>([
      ["HEAD", "/key/fz?consistency=stale"],
      ["HEAD", "/keys?consistency=stale"],
      ["OPTIONS", "/key"],
      ["OPTIONS", "/key/fz"],
      ["OPTIONS", "/admin/members"],
      ["GET", "/livez?whatever=1"],
      ["GET", "/openapi.json"],
      ["GET", "/metrics"],
      ["GET", "http://elsewhere.example/status"],
    ]);
    return { name: `${m} ${p}`, req: req(m, p), expect: "read" };
  },
  // What Node's HTTP parser refuses before the app: bare 4xx or a closed connection.
  (r) => {
    const raw = r.pick<[string, Buffer]>([
      ["raw UTF-8 byte in path", req("GET", Buffer.from("/key/\xc3\xa9?consistency=stale", "latin1"))],
      ["raw 0xFF in path", req("GET", Buffer.from("/key/\xff", "latin1"))],
      ["NUL in path", req("GET", Buffer.from("/key/a\x00b", "latin1"))],
      ["raw 0xFF in query", req("GET", Buffer.from("/keys?after=\xff", "latin1"))],
      ["space in path", req("GET", "/key/a b")],
      ["unknown method", req("FOO", "/key/a")],
      ["path without slash", req("GET", "key/a")],
      ["header over 16 KiB", req("GET", "/livez", undefined, [["X-Big", "a".repeat(20_000)]])],
      ["path over 16 KiB", req("GET", `/key/${"k".repeat(20_000)}`)],
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
      ],
      [
        "two Content-Lengths",
        encodeRequest({
          method: "POST",
          target: "/key",
          headers: [
            ["Content-Length", "10"],
            ["Content-Length", "11"],
          ],
          body: '{"dup":1}',
          noContentLength: true,
        }),
      ],
      [
        "bad chunk size",
        encodeRequest({
          method: "POST",
          target: "/key",
          headers: [["Transfer-Encoding", "chunked"]],
          body: 'zz\r\n{"ch":1}\r\n0\r\n\r\n',
          noContentLength: true,
        }),
      ],
      ["negative Content-Length", req("POST", "/key", undefined, [["Content-Length", "-1"]])],
      ["Content-Length not a number", req("POST", "/key", undefined, [["Content-Length", "ten"]])],
      ["header without colon", Buffer.from("GET /livez HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n")],
      ["TLS hello on plain HTTP", Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03])],
      ["CONNECT", req("CONNECT", "127.0.0.1:1")],
      ["HTTP/2 preface", Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
    ]);
    return { name: raw[0], req: raw[1], expect: "parser" };
  },
];

/** Checks one reply against its case; returns a problem or undefined. */
function problem(c: Case, r: RawReply): string | undefined {
  if (r.timedOut) return "no answer in time (hang)";
  if (r.status !== undefined && r.status >= 500) return `server error ${r.status}: ${r.body.toString().slice(0, 200)}`;
  const isError = (): string | undefined => {
    if (r.status === undefined || r.status < 400) return `expected a 4xx, got ${r.status ?? "a closed connection"}`;
    const b = r.json as { error?: unknown; code?: unknown } | undefined;
    if (typeof b?.error !== "string" || typeof b.code !== "string") return `not a JSON {error, code}: ${r.body}`;
    const info = ERROR_TABLE[b.code as ErrorCode];
    if (!info) return `unknown code ${b.code}`;
    if (info.status !== r.status) return `code ${b.code} is ${info.status}, sent with ${r.status}`;
    if (!/^application\/json/.test(r.headers["content-type"] ?? "")) return "error without a JSON content type";
    if (c.status !== undefined && r.status !== c.status) return `expected ${c.status}, got ${r.status} ${r.body}`;
    if (c.code !== undefined && b.code !== c.code) return `expected ${c.code}, got ${b.code}: ${b.error}`;
    if (r.status === 405 && !r.headers.allow) return "405 without Allow";
    return undefined;
  };
  if (c.expect === "error") return isError();
  if (c.expect === "parser") {
    if (r.status === undefined) return undefined; // closed
    if (r.status < 400) return `expected a refusal, got ${r.status}`;
    return r.json === undefined ? undefined : isError();
  }
  return undefined; // read: anything below 500
}

/** Every node's keys, after the nodes agree (followers may lag the leader by a round trip). */
async function converged(c: TestCluster, ms = 15_000): Promise<Map<string, unknown>> {
  const end = Date.now() + ms;
  for (;;) {
    const all = await Promise.all([0, 1, 2].map((i) => readAll(c, i)));
    const [a, b, d] = all.map(entriesOf);
    try {
      assert.deepEqual(b, a);
      assert.deepEqual(d, a);
      return all[0] as Map<string, unknown>;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

test(`client API fuzzer (seed ${SEED})`, { timeout: 150_000 }, async (t) => {
  const c = await TestCluster.create(t, { size: 3, secret: SECRET });
  c.startAll();
  await c.waitLeader();
  const ports = c.nodes.map((n) => n.httpPort);
  const rng = new Rng(SEED);

  // Slow clients start first and keep trickling while everything else runs.
  const slowStart = performance.now();
  const slow = (name: string, first: Buffer, then: string, every: number, count: number) =>
    rawSend(ports[0] as number, [first, ...Array.from({ length: count }, () => Buffer.from(then))], {
      timeoutMs: 30_000,
      gapMs: every,
    }).then((r) => ({ name, r }));
  const slowLoris = Promise.all([
    slow(
      "trickled body",
      Buffer.from('POST /key HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{"slow1":'),
      " ",
      700,
      40,
    ),
    slow("body never sent", Buffer.from("POST /key HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n"), "", 1000, 0),
    slow(
      "trickled chunks",
      Buffer.from("POST /cas/slow2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"),
      "1\r\n \r\n",
      700,
      40,
    ),
    slow(
      "trickled admin body",
      Buffer.from(
        `POST /admin/members HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nContent-Length: 300\r\n\r\n{`,
      ),
      " ",
      900,
      30,
    ),
  ]);

  await t.test("valid but unusual writes round-trip exactly on every node", async () => {
    const model = new Map<string, unknown>();
    const writes: Array<{ name: string; req: Buffer; kv: Record<string, unknown> }> = [];
    const cts = [
      "",
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/json; charset=latin1",
      "application/xml",
    ];
    for (const k of ODD_KEYS) {
      const value = rng.pick<unknown>([
        "\udc00 lone surrogate value",
        "nul\u0000inside",
        "🦄\u202Ertl",
        -0.0,
        1e308,
        5e-324,
        123456789012345680000,
        JSON.parse('{"__proto__":1,"constructor":{"prototype":2}}'),
        [null, true, false, "", {}],
        JSON.parse(`{"d":${nested(62)}}`), // the whole body is 64 deep: the limit
      ]);
      const headers: Array<[string, string]> = [];
      const ct = rng.pick(cts);
      if (ct !== "") headers.push(["Content-Type", ct]);
      const viaCas = rng.chance(0.3);
      const body = viaCas ? JSON.stringify({ expect: null, value }) : JSON.stringify({ [k]: value });
      const target = viaCas ? `/cas/${enc(k)}` : "/key";
      writes.push({
        name: `write ${JSON.stringify(k).slice(0, 30)} via ${target.slice(0, 20)}`,
        req: req("POST", target, body, headers),
        kv: { [k]: value },
      });
    }
    // A value as large as the body limit allows, and a multi-key write with odd keys.
    const bigKey = "big-value";
    const bigBody = JSON.stringify({ [bigKey]: "v".repeat(MIB - 20 - bigKey.length) });
    assert.ok(Buffer.byteLength(bigBody) <= MIB);
    writes.push({ name: "body just under the limit", req: req("POST", "/key", bigBody), kv: JSON.parse(bigBody) });
    const multi = { "m1-🦄": 1, "m2-\u0000": 2, "m3-\u202E": 3 };
    writes.push({ name: "multi-key write", req: req("POST", "/key", JSON.stringify(multi)), kv: multi });

    for (const w of writes) {
      const r = await rawSend(rng.pick(ports), w.req, { timeoutMs: 20_000 });
      assert.equal(r.status, 200, `${w.name}: ${r.status} ${r.body.toString().slice(0, 300)} (seed ${SEED})`);
      for (const [k, v] of Object.entries(w.kv)) model.set(k, JSON.parse(JSON.stringify(v)));
    }
    const state = await converged(c);
    assert.deepEqual(entriesOf(state), entriesOf(model));
    // And each key read alone, on each node, answers exactly what was written.
    for (const [k, v] of model) {
      for (const i of [0, 1, 2]) {
        const r = await c.http(i, "GET", `/key/${enc(k)}?consistency=stale`);
        assert.equal(r.status, 200);
        assert.deepEqual(Object.entries(r.body), [[k, v]], `key ${JSON.stringify(k).slice(0, 40)} on node ${i}`);
      }
    }
  });

  let sent = 0;
  const tally = new Map<string, number>();
  await t.test(`${BATCHES} batches of ${PER_BATCH} hostile requests change nothing`, async (st) => {
    for (let b = 0; b < BATCHES; b++) {
      const before = await converged(c);
      const cases = Array.from({ length: PER_BATCH }, () => (rng.pick(GENERATORS) as Gen)(rng));
      const replies = await pool(
        24,
        cases.map((k) => () => rawSend(rng.pick(ports), k.req, { timeoutMs: 20_000 })),
      );
      sent += cases.length;
      for (const r of replies) {
        const k = `${r.status ?? "closed"} ${(r.json as { code?: string } | undefined)?.code ?? ""}`.trim();
        tally.set(k, (tally.get(k) ?? 0) + 1);
      }
      const failures = cases.flatMap((k, i) => {
        const p = problem(k, replies[i] as RawReply);
        return p ? [`${k.name}: ${p}`] : [];
      });
      assert.deepEqual(failures.slice(0, 10), [], `batch ${b} (seed ${SEED}): ${failures.length} bad answers`);
      for (const i of [0, 1, 2]) {
        const after = await readAll(c, i);
        assert.deepEqual(entriesOf(after), entriesOf(before), `node ${i} changed in batch ${b} (seed ${SEED})`);
      }
    }
    const counts = [...tally].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, n]) => `${k}: ${n}`);
    st.diagnostic(`${sent} hostile requests; answers: ${counts.join(", ")}`);
  });

  await t.test("slow-loris bodies are cut off with a 4xx or a close, and others are served meanwhile", async () => {
    const t0 = performance.now();
    const live = await rawSend(ports[0] as number, req("GET", "/livez"), { timeoutMs: 2000 });
    assert.equal(live.status, 200, "a quick request is served while slow ones trickle");
    assert.ok(performance.now() - t0 < 2000);
    for (const { name, r } of await slowLoris) {
      assert.ok(!r.timedOut, `${name}: still open after ${Math.round(r.ms)} ms`);
      assert.ok(r.status === undefined || (r.status >= 400 && r.status < 500), `${name}: got ${r.status}`);
      if (r.status !== undefined) assert.equal((r.json as { code?: string } | undefined)?.code, "BAD_BODY", name);
      assert.ok(r.ms < 15_000, `${name}: took ${Math.round(r.ms)} ms`);
    }
    assert.ok(performance.now() - slowStart < 60_000);
    const state = await converged(c);
    assert.ok(!state.has("slow1") && !state.has("slow2"), "nothing from a slow body was written");
  });

  await t.test("every node is alive, answers /livez and logged no internal error", async () => {
    for (const [i, n] of c.nodes.entries()) {
      assert.ok(n.proc && n.proc.exitCode === null, `node ${i} exited`);
      const r = await c.http(i, "GET", "/livez", undefined, 2000);
      assert.equal(r.status, 200);
      const errors = c.logs(i).filter((l) => l.level === "error");
      assert.deepEqual(errors.slice(0, 5), [], `node ${i} logged errors`);
    }
    const st = await Promise.all([0, 1, 2].map((i) => c.status(i)));
    const leaders = new Set(st.map((s) => s?.leader?.id));
    assert.equal(leaders.size, 1, "one leader, known to every node");
  });
});
