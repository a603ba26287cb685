/**
 * The lean path (node/src/api/lean-path.ts) answers the hot routes exactly as
 * the express routes do. Every request here goes to two apps over identical
 * nodes, one with the lean path (the default) and one with `leanPath: false`,
 * and the raw responses must be equal byte for byte (but the Date header and
 * the apps' own URLs); so must what the metrics hook records, the calls the
 * nodes receive and the log lines. Also: which requests the lean path takes
 * at all (exactly its shapes; everything else is left to express untouched).
 */

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { type ApiOptions, createApiApp, hotRoutesOf } from "../../../node/src/api/app.ts";
import { createClientServer } from "../../../node/src/api/client-server.ts";
import { type KvNode, type KvWrites, NodeError } from "../../../node/src/api/kv-node.ts";
import { createLeanPath } from "../../../node/src/api/lean-path.ts";
import { NodeSlot, StandInNode } from "../../../node/src/server/node-slot.ts";
import { FakeNode } from "./fake-node.ts";
import { freePort } from "./helpers.ts";

const T = { timeout: 20_000 };
const LIMIT = 4096;

/**
 * How the hot routes are reached: node:http then the lean path, or the raw front (raw-front.ts) before
 * node:http; each is compared with express alone. Every describe below runs for both.
 */
type Mode = "lean" | "front";
const MODES: Mode[] = ["lean", "front"];

/** One app on 127.0.0.1 and what it recorded. */
interface Side {
  url: string;
  port: number;
  server: Server;
  metrics: string[];
  logs: string[];
  /** Connections the raw front handed over to node:http (front mode). */
  handOvers: number;
}

async function serve(node: KvNode, opts: Partial<ApiOptions>, mode: Mode = "lean"): Promise<Side> {
  const metrics: string[] = [];
  const logs: string[] = [];
  // A stack trace names the path's own functions: compare its first line only.
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    logs.push(`${level} ${msg} ${JSON.stringify(fields, (_k, v) => (typeof v === "string" ? v.split("\n")[0] : v))}`);
  const app = createApiApp(node, {
    maxBodyBytes: LIMIT,
    bodyTimeoutMs: 300,
    logger: { warn: log("warn"), error: log("error") },
    metrics: (route, method, code, forwarded) => metrics.push(`${method} ${route} ${code} ${forwarded}`),
    ...opts,
  });
  const side = { handOvers: 0 };
  const routes = hotRoutesOf(app);
  // The front's server is the client server main.ts makes, with node:http's default timeouts (as createServer's).
  const server =
    mode === "front" && routes !== undefined
      ? createClientServer(app, {
          headersTimeoutMs: 60_000,
          requestTimeoutMs: 300_000,
          front: { routes, maxBodyBytes: LIMIT, onHandOver: () => side.handOvers++ },
        })
      : createServer(app);
  if (mode === "front" && routes !== undefined) server.removeAllListeners("clientError");
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(side, { url: `http://127.0.0.1:${port}`, port, server, metrics, logs });
}

function close(s: Side): Promise<void> {
  return new Promise((resolve) => {
    s.server.closeAllConnections();
    s.server.close(() => resolve());
  });
}

/** A raw HTTP/1.1 request: keep-alive unless the headers say otherwise; Content-Length for a body unless given. */
function req(method: string, target: string, body?: string | Buffer, headers: string[] = []): Buffer {
  const b = body === undefined ? undefined : Buffer.from(body);
  const lines = [`${method} ${target} HTTP/1.1`, "Host: 127.0.0.1", ...headers];
  if (b !== undefined && !headers.some((h) => /^(content-length|transfer-encoding):/i.test(h))) {
    lines.push(`Content-Length: ${b.length}`);
  }
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), b ?? Buffer.alloc(0)]);
}

/** Offsets just past each complete response in `buf` (Content-Length framing, which the API always uses; none after HEAD). */
function responseEnds(buf: string, head: boolean): number[] {
  const ends: number[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = buf.indexOf("\r\n\r\n", pos);
    if (headEnd < 0) return ends;
    const status = /^HTTP\/1\.1 (\d{3})/.exec(buf.slice(pos, pos + 12))?.[1];
    const len = /\r\ncontent-length: (\d+)\r\n/i.exec(buf.slice(pos, headEnd + 2))?.[1];
    const end = headEnd + 4 + (status === "100" || head ? 0 : Number(len ?? 0));
    if (buf.length < end) return ends;
    if (status !== "100") ends.push(end);
    pos = end;
  }
}

/**
 * Sends `parts` (each after `gapMs`) and returns every byte received until `responses` complete
 * responses arrived, the server closed, or 3 s passed; "<closed>" is appended when the server closed.
 */
function exchange(port: number, parts: Buffer[], responses = 1, gapMs = 20): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let text = "";
    let done = false;
    const finish = (suffix: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(text + suffix);
    };
    const timer = setTimeout(() => finish("<timeout>"), 3000);
    sock.on("data", (d) => {
      text += d.toString("latin1");
      if (responseEnds(text, parts[0]?.subarray(0, 5).toString() === "HEAD ").length >= responses) finish("");
    });
    sock.on("error", () => finish("<error>"));
    sock.on("close", () => finish("<closed>"));
    let i = 0;
    const next = () => {
      const p = parts[i++];
      if (p === undefined || done) return;
      sock.write(p, () => setTimeout(next, gapMs));
    };
    next();
  });
}

/** The two apps of a comparison, and how to tell their URLs apart from the rest of an answer. */
class Pair {
  readonly lean: Side;
  readonly express: Side;
  /** [lean, express, placeholder] URLs that may appear in answers (their own and their leaders'). */
  readonly urls: Array<[string, string, string]>;
  constructor(lean: Side, express: Side, urls: Array<[string, string, string]> = []) {
    this.lean = lean;
    this.express = express;
    this.urls = [[lean.url, express.url, "<self>"], ...urls];
  }

  #norm(text: string, i: 0 | 1): string {
    let t = text.replace(/\r\nDate: [^\r]*\r\n/g, "\r\nDate: -\r\n");
    for (const u of this.urls) t = t.replaceAll(u[i], u[2]);
    return t;
  }

  /** Sends the request to both apps (lean first) and asserts equal answers; returns the lean one. */
  async same(what: string, parts: Buffer | Buffer[], responses = 1): Promise<string> {
    const list = Array.isArray(parts) ? parts : [parts];
    const handOvers = this.lean.handOvers;
    const a = this.#norm(await exchange(this.lean.port, list, responses), 0);
    const b = this.#norm(await exchange(this.express.port, list, responses), 1);
    if (this.lean.handOvers !== handOvers && a !== b) {
      // node:http parses bytes the front handed over from JavaScript, not natively, so an error answer may
      // find the body already complete and keep the connection open where express alone closes it (a
      // rest it never read). Only that may differ: compare without the connection's fate.
      const fate = (t: string) =>
        t.replace(/Connection: (close|keep-alive)\r\n(Keep-Alive: [^\r]*\r\n)?/g, "").replace(/<closed>$/, "");
      assert.equal(fate(a), fate(b), `${what} (handed over)`);
      return a;
    }
    assert.equal(a, b, what);
    assert.ok(a.startsWith("HTTP/1.1 "), `${what}: an answer came back: ${a}`);
    return a;
  }

  /** Asserts both apps recorded the same metrics and log lines so far. */
  sameRecords(): void {
    assert.deepEqual(this.lean.metrics, this.express.metrics, "metrics hook records");
    const norm = (s: string, i: 0 | 1) => this.urls.reduce((t, u) => t.replaceAll(u[i], u[2]), s);
    assert.deepEqual(
      this.lean.logs.map((l) => norm(l, 0)),
      this.express.logs.map((l) => norm(l, 1)),
      "log lines",
    );
  }

  async close(): Promise<void> {
    await Promise.all([close(this.lean), close(this.express)]);
  }
}

async function pair<N extends KvNode>(
  make: () => N,
  opts: Partial<ApiOptions> = {},
  mode: Mode = "lean",
): Promise<{ p: Pair; nodes: [N, N] }> {
  const nodes: [N, N] = [make(), make()];
  const lean = await serve(nodes[0], opts, mode);
  const express = await serve(nodes[1], { ...opts, leanPath: false });
  return { p: new Pair(lean, express), nodes };
}

/** A FakeNode whose reads of "boom" fail with a plain Error (a bug: 500 INTERNAL). */
class BuggyNode extends FakeNode {
  override async get(key: string, consistency: "linearizable" | "stale") {
    if (key === "boom") throw new Error("disk on fire");
    if (key === "node-internal") throw new NodeError("INTERNAL", "the store failed");
    return super.get(key, consistency);
  }
}

const SEED = JSON.stringify({ a: "x", "a/b": 1, "ключ/🙂": [1, { z: null }], __proto__: "p", "sp ace?#": 2 });

/** A follower whose writes run on `leader` through the node itself (KvNode.remote), as the real node's do. */
class RemoteFollower extends FakeNode {
  readonly leaderNode: FakeNode;
  /** What the next remote write does: run on the leader, or fail with this code. */
  failWith: "NO_LEADER" | "UNAVAILABLE" | undefined;
  leaderUrl = "http://leader.invalid:11000";

  constructor(id: string, leaderNode: FakeNode) {
    super(id);
    this.leaderNode = leaderNode;
    this.role = { kind: "follower", leader: { id: "n1", httpUrl: this.leaderUrl } };
  }

  get remote(): KvWrites {
    return {
      leader: () => ({ id: "n1", httpUrl: this.leaderUrl }),
      set: async (kv) => {
        if (this.failWith) throw new NodeError(this.failWith, `remote ${this.failWith}`, { id: "n1", httpUrl: "" });
        return this.leaderNode.set(kv);
      },
      del: (keys) => this.leaderNode.del(keys),
      cas: (key, expect, value, del) => this.leaderNode.cas(key, expect, value, del),
    };
  }
}

for (const mode of MODES) {
  describe(`${mode} and express answer alike on a leader`, T, () => {
    let p: Pair;
    let nodes: [BuggyNode, BuggyNode];
    before(async () => {
      ({ p, nodes } = await pair(() => new BuggyNode("n1"), {}, mode));
      await p.same("seed", req("POST", "/key", SEED));
    });
    after(() => p.close());

    test("GET /key/<key>: values, absent keys, encodings, both consistencies", async () => {
      for (const target of [
        "/key/a",
        "/key/never",
        "/key/a%2Fb",
        "/key/a/b",
        "/key/%D0%BA%D0%BB%D1%8E%D1%87/%F0%9F%99%82",
        "/key/__proto__",
        "/key/sp%20ace%3F%23",
        `/key/${"k".repeat(1024)}`,
        "/key/a?consistency=stale",
        "/key/a?consistency=linearizable",
        "/key/a?consistency=stale&redirect=0",
        "/key/a?redirect",
        "/key/a?redirect=1",
        "/key/a?",
        "/key/a?&",
        "/key/a%2Fb?consistency=stale",
      ]) {
        const r = await p.same(target, req("GET", target));
        assert.match(
          r,
          /^HTTP\/1\.1 200 OK\r\nX-Raftkv-Node: n1\r\nContent-Type: application\/json; charset=utf-8\r\n/,
        );
      }
      assert.deepEqual(nodes[0].calls, nodes[1].calls);
      p.sameRecords();
    });

    test("GET /key/<key>: bad keys and bad query strings are the same 400s", async () => {
      for (const target of [
        "/key/%FF",
        "/key/%ED%A0%80",
        "/key/%",
        `/key/${"k".repeat(1025)}`,
        "/key/a?consistency=",
        "/key/a?consistency=bogus",
        "/key/a?consistancy=stale",
        "/key/a?consistency=stale&consistency=stale",
        "/key/a?redirect=maybe",
        "/key/a?%FF",
        "/key/a?consistency=%FF",
        "/key/%FF?consistency=bogus",
        "/key/a?consistency=bogus&redirect=maybe",
      ]) {
        const r = await p.same(target, req("GET", target));
        assert.match(r, /^HTTP\/1\.1 400 /);
        assert.match(r, /"code":"BAD_(KEY|PARAM)"/);
      }
      p.sameRecords();
    });

    test("node failures: a bug is 500 INTERNAL and logged, as is a NodeError INTERNAL", async () => {
      assert.match(await p.same("bug", req("GET", "/key/boom")), /^HTTP\/1\.1 500 [\s\S]*"code":"INTERNAL"/);
      assert.match(await p.same("node error", req("GET", "/key/node-internal?consistency=stale")), /"INTERNAL"/);
      assert.equal(p.lean.logs.length, 2, p.lean.logs.join("\n"));
      p.sameRecords();
    });

    test("POST /key: writes in every accepted form", async () => {
      for (const [what, body, headers] of [
        ["one key", '{"w":1}', []],
        ["form content type (curl -d)", '{"f":"v"}', ["Content-Type: application/x-www-form-urlencoded"]],
        ["text/plain", '{"t":true}', ["Content-Type: text/plain"]],
        ["a BOM", '\uFEFF{"bom":1}', []],
        ["empty object", "{}", []],
        ["nesting", '{"n":{"deep":[1,2,{"x":true}]},"m":"é"}', []],
        ["duplicate keys", '{"d":1,"d":2}', []],
        ["at the depth limit", `{"deep":${"[".repeat(63)}1${"]".repeat(63)}}`, []],
        ["a wrong bearer token (the KV routes take none)", '{"auth":1}', ["Authorization: Bearer wrong"]],
        ["Expect: 100-continue", '{"e":1}', ["Expect: 100-continue"]],
        ["a body of exactly the limit", `{"big":"${"b".repeat(LIMIT - 10)}"}`, []],
      ] as Array<[string, string, string[]]>) {
        const r = await p.same(what, req("POST", "/key", body, headers));
        assert.match(
          r,
          /^(HTTP\/1\.1 100 Continue\r\n\r\n)?HTTP\/1\.1 200 OK\r\nX-Raftkv-Node: n1\r\n[\s\S]*\{"index":\d+\}$/,
        );
      }
      for (const target of ["/key?redirect", "/key?redirect=0"]) await p.same(target, req("POST", target, '{"q":1}'));
      const chunked = Buffer.from(
        'POST /key HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"c":\r\n2\r\n1}\r\n0\r\n\r\n',
      );
      await p.same("chunked", chunked);
      assert.deepEqual(nodes[0].calls, nodes[1].calls);
      p.sameRecords();
    });

    test("POST /key: bad bodies, bad keys and bad queries are the same 4xx", async () => {
      for (const [what, body] of [
        ["truncated JSON", "{"],
        ["empty", ""],
        ["blank", "   "],
        ["an array", "[1]"],
        ["null", "null"],
        ["a number", "1"],
        ["a string", '"s"'],
        ["a null value", '{"x":null}'],
        ["an empty key", '{"":1}'],
        ["a long key", `{"${"k".repeat(1025)}":1}`],
        ["a lone surrogate in a key", '{"\\ud800":1}'],
        ["too deep", `{"deep":${"[".repeat(64)}1${"]".repeat(64)}}`],
        ["1e999", '{"x":1e999}'],
        ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
      ] as Array<[string, string | Buffer]>) {
        const r = await p.same(what, req("POST", "/key", body));
        assert.match(r, /^HTTP\/1\.1 400 /, what);
      }
      for (const target of ["/key?bogus", "/key?redirect=2", "/key?redirect&redirect", "/key?%FF"]) {
        assert.match(await p.same(target, req("POST", target, '{"q":1}')), /"code":"BAD_PARAM"/);
      }
      assert.deepEqual(nodes[0].calls, nodes[1].calls);
      p.sameRecords();
    });

    test("POST /key: oversized bodies (declared or streamed) and slow bodies are cut off alike", async () => {
      const declared = Buffer.from(`POST /key HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMIT + 1}\r\n\r\n{"x":`);
      assert.match(await p.same("declared too large", declared), /^HTTP\/1\.1 413 [\s\S]*Connection: close\r\n/);
      const big = `{"x":"${"y".repeat(LIMIT)}"}`;
      const streamed = Buffer.from(
        `POST /key HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
      );
      assert.match(await p.same("streamed too large", streamed), /"code":"BODY_TOO_LARGE"/);
      const slow = Buffer.from('POST /key HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"');
      assert.match(
        await p.same("slow body", slow),
        /^HTTP\/1\.1 400 [\s\S]*Connection: close\r\n[\s\S]*did not arrive/,
      );
      p.sameRecords();
    });

    test("keep-alive and pipelining: answers in order on one connection, errors do not break it", async () => {
      const three = [req("GET", "/key/a"), req("GET", "/key/%FF"), req("POST", "/key", '{"ka":1}')];
      await p.same("sequential on one connection", three, 3);
      await p.same("pipelined", Buffer.concat(three), 3);
      p.sameRecords();
    });

    test("shapes the lean path leaves to express answer as before", async () => {
      for (const [what, r] of [
        ["HEAD", req("HEAD", "/key/a")],
        ["If-None-Match: *", req("GET", "/key/a", undefined, ["If-None-Match: *"])],
        ["a GET with a body", req("GET", "/key/a", "xyz")],
        ["no key", req("GET", "/key/")],
        ["no key, no slash", req("GET", "/key")],
        ["POST with a trailing slash", req("POST", "/key/", '{"slash":1}')],
        ["POST to a key", req("POST", "/key/x", '{"x":1}')],
        ["PUT", req("PUT", "/key/x", '{"x":1}')],
        ["a fragment", req("GET", "/key/a#frag")],
        ["absolute form", req("GET", "http://127.0.0.1/key/a")],
        ["case", req("GET", "/KEY/a")],
      ] as Array<[string, Buffer]>) {
        await p.same(what, r);
      }
      p.sameRecords();
    });
  });

  describe(`${mode} and express answer alike when the node cannot serve`, T, () => {
    test("no leader: writes and linearizable reads are 503 NO_LEADER with Retry-After; stale reads work", async () => {
      const { p, nodes } = await pair(() => new FakeNode("n2"), {}, mode);
      try {
        for (const n of nodes) n.role = { kind: "none" };
        assert.match(
          await p.same("write", req("POST", "/key", '{"x":1}')),
          /^HTTP\/1\.1 503 [\s\S]*Retry-After: 1\r\n/,
        );
        assert.match(await p.same("read", req("GET", "/key/x")), /"code":"NO_LEADER"/);
        assert.match(await p.same("stale read", req("GET", "/key/x?consistency=stale")), /^HTTP\/1\.1 200 /);
        p.sameRecords();
      } finally {
        await p.close();
      }
    });

    test("a node still starting (the slot's stand-in): 503 NOT_READY", async () => {
      const { p } = await pair(() => new NodeSlot(new StandInNode("n3", "NOT_READY", "node is starting")), {}, mode);
      try {
        assert.match(await p.same("write", req("POST", "/key", '{"x":1}')), /"code":"NOT_READY"/);
        assert.match(await p.same("read", req("GET", "/key/x?consistency=stale")), /"code":"NOT_READY"/);
        p.sameRecords();
      } finally {
        await p.close();
      }
    });
  });

  describe(`${mode} and express answer alike on a follower`, T, () => {
    let leaders: Pair;
    let leaderNodes: FakeNode[];
    let p: Pair;
    before(async () => {
      // Each follower forwards to a leader of its own kind, so the two runs stay independent and alike.
      const made = await pair(() => new FakeNode("n1"));
      leaders = made.p;
      leaderNodes = made.nodes;
      const lean = new FakeNode("n2");
      const express = new FakeNode("n2");
      lean.role = { kind: "follower", leader: { id: "n1", httpUrl: leaders.lean.url } };
      express.role = { kind: "follower", leader: { id: "n1", httpUrl: leaders.express.url } };
      p = new Pair(await serve(lean, {}, mode), await serve(express, { leanPath: false }), [
        [leaders.lean.url, leaders.express.url, "<leader>"],
      ]);
      await p.same("seed", req("POST", "/key", '{"a":"on-leader"}'));
    });
    after(async () => {
      await p.close();
      await leaders.close();
    });

    test("writes and linearizable reads are proxied; stale reads are local; ?redirect is 307", async () => {
      const w = await p.same("write", req("POST", "/key", '{"w":1}', ["Content-Type: text/plain"]));
      assert.match(w, /^HTTP\/1\.1 200 OK\r\nx-raftkv-node: n1\r\n/);
      assert.match(await p.same("read", req("GET", "/key/a")), /\{"a":"on-leader"\}$/);
      assert.match(await p.same("stale read", req("GET", "/key/a?consistency=stale")), /\{"a":null\}$/);
      for (const target of ["/key?redirect", "/key?redirect=1"]) {
        assert.match(
          await p.same(target, req("POST", target, '{"r":1}')),
          /^HTTP\/1\.1 307 Temporary Redirect\r\nX-Raftkv-Node: n2\r\nLocation: <leader>\/key\?redirect/,
        );
      }
      assert.match(await p.same("read redirect", req("GET", "/key/a%2Fb?redirect")), /Location: <leader>\/key\/a%2Fb/);
      p.sameRecords();
      leaders.sameRecords();
      assert.ok(p.lean.metrics.includes("POST /key 200 true"), p.lean.metrics.join("\n"));
    });

    test("bad input is refused locally; a forwarded request is never forwarded again", async () => {
      assert.match(await p.same("bad JSON", req("POST", "/key", "{")), /"code":"BAD_JSON"/);
      assert.match(await p.same("bad param", req("GET", "/key/a?consistency=no")), /"code":"BAD_PARAM"/);
      const marked = ["X-Raftkv-Forwarded: 1"];
      assert.match(await p.same("loop", req("POST", "/key", '{"m":1}', marked)), /^HTTP\/1\.1 503 [\s\S]*NO_LEADER/);
      assert.match(await p.same("loop read", req("GET", "/key/a", undefined, marked)), /"leader":"<leader>"/);
      p.sameRecords();
    });

    test("the leader's refusals come back as they are (503 NO_LEADER with Retry-After)", async () => {
      for (const n of leaderNodes) n.role = { kind: "none" };
      try {
        const r = await p.same("write", req("POST", "/key", '{"x":1}'));
        assert.match(
          r,
          /^HTTP\/1\.1 503 Service Unavailable\r\nx-raftkv-node: n1\r\ncontent-type: [\s\S]*retry-after: 1\r\n/,
        );
        assert.match(await p.same("read", req("GET", "/key/a")), /"code":"NO_LEADER"/);
      } finally {
        for (const n of leaderNodes) n.role = { kind: "leader" };
      }
      p.sameRecords();
      leaders.sameRecords();
    });
  });

  describe(`${mode} and express answer alike when forwarding is off or fails`, T, () => {
    test("forward: false is 421 NOT_LEADER; an unreachable leader is 503 NO_LEADER, logged", async () => {
      const port = await freePort();
      const gone = { id: "gone", httpUrl: `http://127.0.0.1:${port}` };
      for (const forward of [false, true]) {
        const { p, nodes } = await pair(() => new FakeNode("n2"), { forward }, mode);
        try {
          for (const n of nodes) n.role = { kind: "follower", leader: gone };
          const w = await p.same("write", req("POST", "/key", '{"x":1}'));
          assert.match(w, forward ? /^HTTP\/1\.1 503 [\s\S]*ECONNREFUSED/ : /^HTTP\/1\.1 421 [\s\S]*NOT_LEADER/);
          await p.same("read", req("GET", "/key/x"));
          await p.same("redirect", req("GET", "/key/x?redirect"));
          p.sameRecords();
        } finally {
          await p.close();
        }
      }
    });
  });

  describe(`${mode} and express answer alike for a follower's own writes on the leader (KvNode.remote)`, T, () => {
    test("the leader's answer with X-Raftkv-Node naming it; failures in transit; no leader URL", async () => {
      const { p, nodes } = await pair(() => new RemoteFollower("n2", new FakeNode("n1")), {}, mode);
      const [lean, express] = nodes;
      try {
        const ok = await p.same("write", req("POST", "/key", '{"r":1}'));
        assert.match(ok, /^HTTP\/1\.1 200 OK\r\nX-Raftkv-Node: n1\r\nContent-Type: [\s\S]*\{"index":1\}$/);
        assert.match(await p.same("redirect", req("POST", "/key?redirect", '{"r":2}')), /^HTTP\/1\.1 307 /);
        for (const code of ["NO_LEADER", "UNAVAILABLE"] as const) {
          lean.failWith = express.failWith = code;
          const r = await p.same(code, req("POST", "/key", '{"r":3}'));
          assert.match(r, /^HTTP\/1\.1 503 Service Unavailable\r\nX-Raftkv-Node: n2\r\nRetry-After: 1\r\n/);
        }
        lean.failWith = express.failWith = undefined;
        lean.leaderUrl = express.leaderUrl = "";
        assert.match(await p.same("no leader URL", req("POST", "/key", '{"r":4}')), /"code":"NO_LEADER"/);
        assert.equal(p.lean.metrics[0], "POST /key 200 true", "a write run on the leader counts as forwarded");
        assert.deepEqual(lean.leaderNode.calls, express.leaderNode.calls);
        p.sameRecords();
      } finally {
        await p.close();
      }
    });
  });
}

describe("what the lean path takes", T, () => {
  let server: Server;
  let port: number;
  const took: string[] = [];
  before(async () => {
    const node = new FakeNode("n1");
    const lean = createLeanPath(node, {
      maxBodyBytes: LIMIT,
      forward: { enabled: true, timeoutMs: 1000, logger: { warn: () => {}, error: () => {} } },
      logger: { warn: () => {}, error: () => {} },
    });
    server = createServer((rq, rs) => {
      const taken = lean(rq, rs);
      took.push(`${taken ? "lean" : "left"} ${rq.method} ${rq.url}`);
      if (taken) return;
      rs.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("exactly GET /key/<key> and POST /key in plain origin form; anything else is left untouched", async () => {
    const cases: Array<[Buffer, boolean]> = [
      [req("GET", "/key/a"), true],
      [req("GET", "/key/a?consistency=stale"), true],
      [req("GET", "/key/%FF?bogus"), true],
      [req("GET", "/key/a", undefined, ["Content-Length: 0"]), true],
      [req("POST", "/key", "{}"), true],
      [req("POST", "/key?redirect", "{}"), true],
      [req("POST", "/key", "{}", ["Authorization: Bearer x"]), true],
      [req("HEAD", "/key/a"), false],
      [req("GET", "/key/"), false],
      [req("GET", "/key/?x"), false],
      [req("GET", "/key"), false],
      [req("GET", "/keys"), false],
      [req("GET", "/KEY/a"), false],
      [req("GET", "/key/a#f"), false],
      [req("GET", "http://h/key/a"), false],
      [req("GET", "/key/a", "body"), false],
      [req("GET", "/key/a", undefined, ["If-None-Match: *"]), false],
      [req("GET", "/key/a", undefined, ["If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"]), false],
      [req("POST", "/key/", "{}"), false],
      [req("POST", "/keys", "{}"), false],
      [req("POST", "/key/a", "{}"), false],
      [req("PUT", "/key/a", "{}"), false],
      [req("DELETE", "/key/a"), false],
      [req("OPTIONS", "/key"), false],
    ];
    for (const [r, lean] of cases) {
      took.length = 0;
      await exchange(port, [r]);
      const line = r.toString("latin1").split("\r\n")[0];
      assert.equal(took.length, 1, line);
      assert.equal(took[0]?.startsWith(lean ? "lean " : "left "), true, `${line}: ${took[0]}`);
    }
  });
});
