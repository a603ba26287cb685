/**
 * The hot client routes served on node:http directly, in front of the express
 * app (createApiApp puts it there): `GET /key/<key>` (both consistencies) and
 * `POST /key`, answered byte for byte as the express routes answer them but
 * without express's router, middleware and response helpers, which cost more
 * CPU per request than the rest of a stale read.
 *
 * Only requests of exactly those shapes with nothing unusual about them are
 * taken (see `leanRoute`); for anything else it returns false without
 * touching the request, and express serves it. What it does is the express
 * routes' own code: the query parser (remembered per query string), the body
 * reader, the write checks, forwarding (forward.ts) and the error answers
 * (error-answer.ts). Errors are answered a microtask later, as express does,
 * so the request's body state (and so `Connection: close`) is the same.
 *
 * The same route code (createHotRoutes) also serves the raw front's requests
 * (raw-front.ts), which never reach node:http; it is written against the small
 * request and response interfaces of hot-http.ts, which both fit.
 */

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { JsonValue } from "../kv/command.ts";
import type { Logger, MetricsHook } from "./app.ts";
import { readRawBody } from "./body.ts";
import { errorAnswer } from "./error-answer.ts";
import { type Exchange, type ForwardOptions, toLeader } from "./forward.ts";
import type { HotRequest, HotResponse } from "./hot-http.ts";
import { type KvNode, NodeError } from "./kv-node.ts";
import { parseWrites } from "./kv-writes.ts";
import { keyInPath } from "./path-key.ts";
import { JSON_TYPE, sendPlainError } from "./plain-json.ts";
import { QueryMemo } from "./query-memo.ts";

/** Serves a request and returns true, or returns false leaving it untouched for express. */
export type LeanPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** What the lean path needs of the app's options (see ApiOptions). */
export interface LeanOptions {
  maxBodyBytes: number;
  bodyTimeoutMs?: number | undefined;
  forward: ForwardOptions;
  logger: Logger;
  metrics?: MetricsHook | undefined;
}

/** The route labels of the metrics, as the express routes report them. */
export const READ_ROUTE = "/key/{key}";
/** The route label of `POST /key`. */
export const WRITE_ROUTE = "/key";
const KEY_PREFIX = "/key/";

/** One request on the lean path: what forwarding, the answer and the metrics need. */
class LeanExchange implements Exchange {
  readonly req: HotRequest;
  readonly res: HotResponse;
  readonly url: string;
  /** Index of the "?" in `url`, -1 without a query. */
  readonly query: number;
  readonly route: string;
  readonly start: number;
  forwarded = false;
  /** True once X-Raftkv-Node is set with setHeader (it must come before any header shared code sets). */
  named = false;

  constructor(req: HotRequest, res: HotResponse, url: string, query: number, route: string) {
    this.req = req;
    this.res = res;
    this.url = url;
    this.query = query;
    this.route = route;
    this.start = performance.now();
  }

  /** Marks the request as forwarded (the metrics' `forwarded` label). */
  markForwarded(): void {
    this.forwarded = true;
  }

  /** The path without the query (express's req.path for the targets taken here). */
  get path(): string {
    return this.query < 0 ? this.url : this.url.slice(0, this.query);
  }
}

/**
 * The route of `method` and request target `url` (its "?" at `query`, -1: none) when the hot routes
 * can serve it exactly as express would, else undefined: `GET /key/<key>` or `POST /key` in origin
 * form, printable ASCII without "#" (so express's URL parsing cannot differ from a split at "?").
 */
export function hotTarget(method: string | undefined, url: string, query: number): string | undefined {
  const path = query < 0 ? url.length : query;
  if (method === "POST") {
    if (path !== WRITE_ROUTE.length || !url.startsWith(WRITE_ROUTE)) return undefined;
  } else if (method === "GET") {
    if (path <= KEY_PREFIX.length || !url.startsWith(KEY_PREFIX)) return undefined;
  } else return undefined;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return undefined;
  }
  return method === "POST" ? WRITE_ROUTE : READ_ROUTE;
}

/**
 * True for a GET the hot routes may take: no body and no conditional headers (express would answer
 * `If-None-Match: *` with 304, and leaves a GET body unread).
 */
export function plainGet(h: IncomingHttpHeaders): boolean {
  return (
    h["if-none-match"] === undefined &&
    h["if-modified-since"] === undefined &&
    h["transfer-encoding"] === undefined &&
    (h["content-length"] === undefined || h["content-length"] === "0")
  );
}

/** The hot routes' code, for node:http (createLeanPath) and the raw front (raw-front.ts). */
export interface HotRoutes {
  /**
   * Serves a request hotTarget took as `route`; the answer, or the error answer, goes to `res`. It
   * never throws.
   */
  serve(req: HotRequest, res: HotResponse, url: string, query: number, route: string): void;
  /** True when the request's query asks for a redirect (`?redirect`), which the raw front leaves to node:http. */
  redirects(url: string, query: number, route: string): boolean;
}

/** The hot routes of `node`'s app. */
export function createHotRoutes(node: KvNode, o: LeanOptions): HotRoutes {
  const readQueries = new QueryMemo(["consistency", "redirect"]);
  const writeQueries = new QueryMemo(["redirect"]);
  const id = node.id;
  const { forward, logger, metrics } = o;

  const record = (x: LeanExchange): void => {
    try {
      metrics?.(x.route, x.req.method ?? "", x.res.statusCode, x.forwarded, (performance.now() - x.start) / 1000);
    } catch (e) {
      logger.warn("metrics hook failed", { error: String(e) });
    }
  };

  // X-Raftkv-Node comes first, as express's first middleware sets it; later setHeader calls may replace it.
  const name = (x: LeanExchange): void => {
    if (x.named || x.res.headersSent) return;
    x.res.setHeader("X-Raftkv-Node", id);
    x.named = true;
  };

  const answer = (x: LeanExchange, body: string): void => {
    const len = Buffer.byteLength(body);
    if (x.named) x.res.writeHead(200, ["Content-Type", JSON_TYPE, "Content-Length", String(len)]);
    else x.res.writeHead(200, ["X-Raftkv-Node", id, "Content-Type", JSON_TYPE, "Content-Length", String(len)]);
    x.res.end(body);
  };

  const fail = (x: LeanExchange, err: unknown): void => {
    try {
      name(x);
      const a = errorAnswer(err, x.req, x.res, x.path, logger);
      if (a !== undefined) sendPlainError(x.res, a.code, a.message, a.extra, a.headers);
    } catch (e) {
      // Express's router would catch this; here it must not become an unhandled rejection (a crash).
      logger.error("answering an error failed", { path: x.path, error: String(e) });
      x.res.destroy();
    }
  };

  // As the express route GET /key/{key}: the same checks in the same order.
  const read = async (x: LeanExchange): Promise<void> => {
    const q = readQueries.get(x.url, x.query);
    const key = keyInPath(x.path, KEY_PREFIX);
    const consistency = q.consistency();
    const redirect = q.flag("redirect");
    let value: JsonValue | null;
    try {
      value = await node.get(key, consistency);
    } catch (e) {
      if (!(e instanceof NodeError) || e.code !== "NOT_LEADER") throw e;
      name(x);
      const r = await toLeader<JsonValue | null>(x, forward, redirect, undefined, e.leader);
      if (r.forwarded) return;
      value = r.value;
    }
    // What JSON.stringify gives for the one-property object {[key]: value}, "__proto__" included.
    answer(x, `{${JSON.stringify(key)}:${JSON.stringify(value ?? null)}}`);
  };

  // As the express route POST /key.
  const write = async (x: LeanExchange): Promise<void> => {
    const redirect = writeQueries.get(x.url, x.query).flag("redirect");
    // A request without takeBody is node:http's (HotRequest says so).
    const raw = x.req.takeBody?.() ?? (await readRawBody(x.req as IncomingMessage, o.maxBodyBytes, o.bodyTimeoutMs));
    const kv = parseWrites(raw);
    const rem = node.remote;
    // viaLeader (forward.ts) with the local case inline: a follower that knows its leader goes there at once.
    let leader = rem?.leader();
    if (leader === undefined) {
      let index: number;
      try {
        index = (await node.set(kv)).index;
      } catch (e) {
        if (!(e instanceof NodeError) || e.code !== "NOT_LEADER") throw e;
        index = -1;
        leader = e.leader;
      }
      if (index >= 0) return answer(x, `{"index":${index}}`);
    }
    name(x);
    const r = await toLeader(x, forward, redirect, raw, leader, rem && { leader: rem.leader, run: () => rem.set(kv) });
    if (!r.forwarded) answer(x, `{"index":${r.value.index}}`);
  };

  return {
    serve(req, res, url, query, route) {
      const x = new LeanExchange(req, res, url, query, route);
      if (metrics) res.on("finish", () => record(x));
      (route === READ_ROUTE ? read(x) : write(x)).catch((e: unknown) => fail(x, e));
    },
    redirects(url, query, route) {
      try {
        return (route === READ_ROUTE ? readQueries : writeQueries).get(url, query).flag("redirect");
      } catch {
        return false; // a bad query is refused the same way everywhere
      }
    },
  };
}

/** The lean path for `node`'s app (on the hot routes of createHotRoutes when given). */
export function createLeanPath(node: KvNode, o: LeanOptions, routes = createHotRoutes(node, o)): LeanPath {
  return (req, res) => {
    const url = req.url;
    if (url === undefined || !url.startsWith(WRITE_ROUTE)) return false;
    const query = url.indexOf("?");
    const route = hotTarget(req.method, url, query);
    if (route === undefined || (route === READ_ROUTE && !plainGet(req.headers))) return false;
    routes.serve(req, res, url, query, route);
    return true;
  };
}
