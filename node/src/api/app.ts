/**
 * The client HTTP API as an express 5 app: hraftd-compatible `/key` routes,
 * compare-and-set, listing, health, admin and the OpenAPI document. It only
 * translates HTTP to `KvNode` calls; the runtime creates the server and
 * listens (see createApiApp). Every error is `{error, code}` (docs/errors.md).
 */

import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { type JsonValue, keyProblem } from "../kv/command.ts";
import { registerAdminRoutes } from "./admin.ts";
import { requireSecret } from "./auth.ts";
import { describe, onlyFields, parseJsonObject, readRawBody } from "./body.ts";
import { errorAnswer } from "./error-answer.ts";
import { ApiFailure, sendError } from "./failure.ts";
import { expressExchange, type ForwardOptions, viaLeader } from "./forward.ts";
import type { KvNode } from "./kv-node.ts";
import { parseWrites } from "./kv-writes.ts";
import { createHotRoutes, createLeanPath, type HotRoutes } from "./lean-path.ts";
import { keyInPath } from "./path-key.ts";
import { parseQuery } from "./query.ts";

/** The log calls the API makes (the node's structured logger fits). */
export interface Logger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Called once per finished response; `route` is the route pattern (e.g. "/key/{key}"), never the raw path. */
export type MetricsHook = (route: string, method: string, code: number, forwarded: boolean, seconds: number) => void;

/** Options of createApiApp. */
export interface ApiOptions {
  /** Largest accepted request body (config MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** How long a client may take to send a whole body (default BODY_TIMEOUT_MS, 10 s). */
  bodyTimeoutMs?: number;
  metrics?: MetricsHook;
  /** How long to wait for the leader when forwarding (default 15 s). */
  forwardTimeoutMs?: number;
  logger?: Logger;
  /** The cluster secret admin calls must present; undefined leaves the admin API open. */
  adminSecret?: string;
  /** Serves GET /metrics (mounted by the runtime); without it /metrics is 404. */
  metricsHandler?: RequestHandler;
  /** False: followers answer NOT_LEADER (421) instead of proxying to the leader (default true). */
  forward?: boolean;
  /** False: the hot routes go through express too instead of the lean path (lean-path.ts; default true). */
  leanPath?: boolean;
}

/** The methods a route can serve. */
export type Method = "GET" | "POST" | "DELETE";

/** A route as registered: OpenAPI-style path, methods, and methods served but left out of the OpenAPI document. */
export interface RouteInfo {
  path: string;
  methods: Method[];
  undocumented: Method[];
}

/** What a route handler receives besides the request and response. */
export interface Ctx {
  node: KvNode;
  opts: ApiOptions;
  forward: ForwardOptions;
  /** Reads the raw body with the size limit. */
  body(req: Request): Promise<Buffer>;
}

/** A route handler. */
export type Handler = (req: Request, res: Response, next: NextFunction) => Promise<void> | void;

/** Registers one route: `label` is its OpenAPI-style path; other methods get 405 with Allow. */
export type RouteFn = (pattern: string | RegExp, label: string, handlers: Partial<Record<Method, Handler>>) => void;

const OPENAPI_PATH = join(import.meta.dirname, "openapi.json");

/** Default limit of GET /keys, and its maximum. */
export const LIST_DEFAULT_LIMIT = 100;
/** Largest `limit` GET /keys accepts. */
export const LIST_MAX_LIMIT = 10_000;

const stderrLogger: Logger = {
  warn: (msg, fields) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...fields })}\n`),
  error: (msg, fields) => process.stderr.write(`${JSON.stringify({ level: "error", msg, ...fields })}\n`),
};

/** Builds the client API app for `node`; the caller listens (e.g. `http.createServer(app)`). */
export function createApiApp(node: KvNode, opts: ApiOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", false); // parseQuery reads the raw query string
  app.set("case sensitive routing", true); // hraftd matches /key exactly
  const logger = opts.logger ?? stderrLogger;
  const forward: ForwardOptions = {
    enabled: opts.forward ?? true,
    timeoutMs: opts.forwardTimeoutMs ?? 15_000,
    logger,
  };
  const ctx: Ctx = { node, opts, forward, body: (req) => readRawBody(req, opts.maxBodyBytes, opts.bodyTimeoutMs) };
  const routes: RouteInfo[] = [];
  app.locals.routes = routes;

  app.use((req, res, next) => {
    const start = performance.now();
    res.setHeader("X-Raftkv-Node", node.id);
    if (opts.metrics) {
      const hook = opts.metrics;
      res.on("finish", () => {
        try {
          const route = (res.locals.route as string | undefined) ?? "unmatched";
          hook(route, req.method, res.statusCode, res.locals.forwarded === true, (performance.now() - start) / 1000);
        } catch (e) {
          logger.warn("metrics hook failed", { error: String(e) });
        }
      });
    }
    next();
  });

  const route: RouteFn = (pattern, label, handlers) => {
    const methods = Object.keys(handlers) as Method[];
    const hidden = methods.filter((m) => handlers[m] === emptyKey);
    routes.push({ path: label, methods, undocumented: hidden });
    const allow = methods.flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m])).join(", ");
    app.all(pattern, async (req, res, next) => {
      res.locals.route = label;
      const h = handlers[(req.method === "HEAD" ? "GET" : req.method) as Method];
      if (h !== undefined) return h(req, res, next);
      if (req.method === "OPTIONS") {
        res.setHeader("Allow", allow);
        res.status(204).end();
        return;
      }
      const message = `${req.method} is not allowed on ${label}; allowed: ${allow}`;
      throw new ApiFailure("METHOD_NOT_ALLOWED", message, undefined, { Allow: allow });
    });
  };

  registerKvRoutes(route, ctx);
  registerHealthRoutes(route, ctx);
  registerAdminRoutes(route, ctx, (req) => requireSecret(req, opts.adminSecret));

  // Read once at startup so a missing file fails fast, not on the first request.
  const openapi = readFileSync(OPENAPI_PATH, "utf8");
  route("/openapi.json", "/openapi.json", {
    GET: (req, res) => {
      parseQuery(req, []);
      res.type("application/json").send(openapi);
    },
  });

  app.use((req, res) => {
    res.locals.route = "unmatched";
    sendError(res, "NOT_FOUND", `no route ${req.method} ${req.path} (see GET /openapi.json)`);
  });
  app.use(errorHandler(logger));
  if (opts.leanPath !== false) {
    const leanOptions = {
      maxBodyBytes: opts.maxBodyBytes,
      bodyTimeoutMs: opts.bodyTimeoutMs,
      forward,
      logger,
      metrics: opts.metrics,
    };
    const hot = createHotRoutes(node, leanOptions);
    hotRoutes.set(app, hot);
    const lean = createLeanPath(node, leanOptions, hot);
    // http.createServer(app) calls app(req, res), which calls app.handle: the lean path goes in front of it.
    const a = app as unknown as { handle: ExpressHandle };
    const viaExpress = a.handle;
    a.handle = (req, res, next) => {
      if (!lean(req, res)) viaExpress.call(app, req, res, next);
    };
  }
  return app;
}

const hotRoutes = new WeakMap<Express, HotRoutes>();

/** The hot routes of an app createApiApp made, for the raw front (raw-front.ts); undefined with `leanPath: false`. */
export function hotRoutesOf(app: Express): HotRoutes | undefined {
  return hotRoutes.get(app);
}

/** Express's own entry point for a request (not in its type declarations). */
type ExpressHandle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** The key in the path after `prefix` (percent-decoded), validated: BAD_KEY otherwise. */
function pathKey(req: Request, prefix: string): string {
  return keyInPath(req.path, prefix);
}

/** GET or DELETE /key (no key): hraftd answers 400 too. */
const emptyKey: Handler = (req) => {
  throw new ApiFailure("BAD_KEY", `key must not be empty: use ${req.method} ${req.path.replace(/\/$/, "")}/<key>`);
};

function registerKvRoutes(route: RouteFn, ctx: Ctx): void {
  const { node } = ctx;

  route("/key", "/key", {
    // hraftd: POST /key {"k": v, ...} sets every key; here in one Raft entry, so atomically.
    POST: async (req, res) => {
      const redirect = parseQuery(req, ["redirect"]).flag("redirect");
      const raw = await ctx.body(req);
      const kv = parseWrites(raw);
      const rem = node.remote;
      const r = await viaLeader(
        expressExchange(req, res),
        ctx.forward,
        redirect,
        raw,
        () => node.set(kv),
        rem && { leader: rem.leader, run: () => rem.set(kv) },
      );
      if (!r.forwarded) res.json({ index: r.value.index });
    },
    GET: emptyKey,
    DELETE: emptyKey,
  });

  // Regexes without groups: express would decode a named parameter itself and fail with its own error.
  route(/^\/key\/.+$/, "/key/{key}", {
    GET: async (req, res) => {
      const q = parseQuery(req, ["consistency", "redirect"]);
      const key = pathKey(req, "/key/");
      const consistency = q.consistency();
      const r = await viaLeader(expressExchange(req, res), ctx.forward, q.flag("redirect"), undefined, () =>
        node.get(key, consistency),
      );
      // fromEntries defines an own property even for "__proto__".
      if (!r.forwarded) res.json(Object.fromEntries([[key, r.value ?? null]]));
    },
    DELETE: async (req, res) => {
      const q = parseQuery(req, ["redirect"]);
      const key = pathKey(req, "/key/");
      const rem = node.remote;
      const r = await viaLeader(
        expressExchange(req, res),
        ctx.forward,
        q.flag("redirect"),
        undefined,
        () => node.del([key]),
        rem && { leader: rem.leader, run: () => rem.del([key]) },
      );
      if (!r.forwarded) res.json({ index: r.value.index, deleted: r.value.deleted });
    },
  });

  route("/cas", "/cas", { POST: emptyKey });
  route(/^\/cas\/.+$/, "/cas/{key}", {
    POST: async (req, res) => {
      const q = parseQuery(req, ["redirect"]);
      const key = pathKey(req, "/cas/");
      const raw = await ctx.body(req);
      const body = parseJsonObject(raw, "the body of POST /cas");
      onlyFields(body, ["expect", "value", "delete"], "POST /cas");
      if (!("expect" in body)) throw new ApiFailure("BAD_BODY", "POST /cas: `expect` is required (null = absent)");
      if (body.delete !== undefined && typeof body.delete !== "boolean") {
        throw new ApiFailure("BAD_BODY", `POST /cas: \`delete\` must be a boolean, not ${describe(body.delete)}`);
      }
      const del = body.delete === true;
      const value = body.value as JsonValue | undefined;
      if (del === (value !== undefined)) {
        throw new ApiFailure("BAD_BODY", 'POST /cas: give exactly one of `value` or `"delete": true`');
      }
      if (value === null) throw new ApiFailure("BAD_BODY", 'POST /cas: `value` must not be null; use `"delete": true`');
      const expect = body.expect as JsonValue;
      const rem = node.remote;
      const r = await viaLeader(
        expressExchange(req, res),
        ctx.forward,
        q.flag("redirect"),
        raw,
        () => node.cas(key, expect, value, del),
        rem && { leader: rem.leader, run: () => rem.cas(key, expect, value, del) },
      );
      if (r.forwarded) return;
      const { ok, current, index } = r.value;
      if (!ok)
        throw new ApiFailure("CAS_MISMATCH", `${JSON.stringify(key)} does not hold the expected value`, { current });
      res.json({ ok: true, current, index });
    },
  });

  route("/keys", "/keys", {
    GET: async (req, res) => {
      const q = parseQuery(req, ["prefix", "limit", "after", "consistency", "redirect"]);
      const prefix = q.get("prefix") ?? "";
      if (prefix !== "") checkKeyParam("prefix", prefix);
      const after = q.get("after");
      if (after !== undefined) checkKeyParam("after", after);
      const limit = q.int("limit", 1, LIST_MAX_LIMIT, LIST_DEFAULT_LIMIT);
      const consistency = q.consistency();
      // One more than asked tells whether another page exists.
      const r = await viaLeader(expressExchange(req, res), ctx.forward, q.flag("redirect"), undefined, () =>
        node.list(prefix, limit + 1, after, consistency),
      );
      if (r.forwarded) return;
      const keys = r.value.slice(0, limit);
      const last = keys.at(-1);
      res.json(r.value.length > limit && last !== undefined ? { keys, next: last.key } : { keys });
    },
  });
}

function checkKeyParam(name: string, value: string): void {
  const problem = keyProblem(value);
  if (problem) throw new ApiFailure("BAD_PARAM", `?${name}: ${problem.replace(/^key/, name)}`);
}

function registerHealthRoutes(route: RouteFn, ctx: Ctx): void {
  const { node } = ctx;
  route("/status", "/status", {
    GET: (req, res) => {
      parseQuery(req, []);
      res.json(node.status());
    },
  });
  // Liveness never depends on the leader or on query parameters: a partitioned node must not be restarted.
  route("/livez", "/livez", {
    GET: (_req, res) => {
      res.json({ status: "ok" });
    },
  });
  route("/readyz", "/readyz", {
    GET: (req, res) => {
      const noLeader = parseQuery(req, ["noleader"]).flag("noleader");
      const { ready, reason } = node.readiness(noLeader);
      if (ready) res.json({ ready: true, reason });
      else sendError(res, "NOT_READY", reason, { ready: false });
    },
  });
  const metricsHandler = ctx.opts.metricsHandler;
  if (metricsHandler)
    route("/metrics", "/metrics", {
      GET: async (req, res, next) => {
        await metricsHandler(req, res, next);
      },
    });
}

/** The final error handler: answers as errorAnswer decides (error-answer.ts). */
function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const a = errorAnswer(err, req, res, req.path, logger);
    if (a !== undefined) sendError(res, a.code, a.message, a.extra, a.headers);
  };
}
