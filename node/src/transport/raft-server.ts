/**
 * The Raft port (RAFT_ADDR:RAFT_PORT): an express app that receives batches
 * of Raft messages on one endpoint per lane, plus /join and /info. Every
 * request is authenticated before its body is even read; a refused request
 * changes no state.
 */

import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import type { Message } from "../raft/types.ts";
import { checkAuth } from "./auth.ts";
import {
  HEADERS,
  type InfoResponse,
  type JoinRequest,
  LANES,
  type Lane,
  lanePath,
  messageProblem,
  PROPOSE_PATH,
  type ProposeAnswer,
  RAFT_PREFIX,
} from "./protocol.ts";
import { type StreamServerOptions, serveStreams } from "./stream-server.ts";

/** Who sent a request, as its headers say. */
export interface Sender {
  id: string;
  raftAddr: string | undefined;
  httpUrl: string | undefined;
}

/** What the Raft port serves; the node implements it. */
export interface RaftHandler {
  /** Queues messages for the core; false when the node cannot take them now (503). */
  deliver(msgs: Message[], from: Sender): boolean;
  /** Handles a join or announce request. */
  join(req: JoinRequest): Promise<{ status: number; body: unknown }>;
  /** What this node knows of the cluster. */
  info(): InfoResponse;
  /** Proposes client writes forwarded by a follower; absent while the node starts (503). */
  propose?(datas: string[]): Promise<ProposeAnswer[]>;
}

/** Settings of the Raft port. */
export interface RaftServerOptions {
  selfId: string;
  secret: string | undefined;
  clusterId: string;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  logger: Logger;
  /** The handler, looked up per request (the node may not exist yet while the process starts). */
  handler: () => RaftHandler | undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a join request body. */
function joinProblem(v: unknown): string | undefined {
  if (!isObj(v)) return "body must be an object";
  for (const k of ["id", "incarnation", "raftAddr", "httpUrl"] as const) {
    if (typeof v[k] !== "string" || v[k] === "") return `${k} must be a non-empty string`;
  }
  if (v.mode !== "join" && v.mode !== "announce") return "mode must be join or announce";
  return undefined;
}

/** Builds the express app of the Raft port. */
export function createRaftApp(o: RaftServerOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const fail = (res: Response, status: number, code: string, error: string) => res.status(status).json({ code, error });

  // Authentication comes before body parsing: strangers cannot make us read megabytes.
  app.use(RAFT_PREFIX, (req: Request, res: Response, next: NextFunction) => {
    const verdict = checkAuth(req.headers, o.secret, o.clusterId);
    if (!verdict.ok) {
      metrics.raftRejected.inc({ reason: verdict.code.toLowerCase() });
      o.logger.debug("raft request refused", {
        reason: verdict.reason,
        path: req.path,
        remote: req.socket.remoteAddress,
      });
      // Close the connection: an unauthenticated body is never read.
      res.setHeader("connection", "close");
      fail(res, verdict.status, verdict.code, verdict.reason);
      return;
    }
    next();
  });
  // The body parser refuses an oversize body only once the client has sent all of it (it drains first):
  // refuse a declared oversize body at once, and close, so a lying peer cannot hold the request open.
  app.use(RAFT_PREFIX, (req: Request, res: Response, next: NextFunction) => {
    const declared = Number(req.headers["content-length"]);
    if (!(declared > o.maxBodyBytes)) return next();
    res.setHeader("connection", "close");
    fail(res, 413, "BODY_TOO_LARGE", `a body of ${declared} bytes is over the limit of ${o.maxBodyBytes}`);
  });
  app.use(RAFT_PREFIX, express.json({ limit: o.maxBodyBytes, strict: true }));

  for (const lane of LANES) {
    app.post(lanePath(lane), (req: Request, res: Response) => {
      const r = laneAnswer(o, lane, req.body as unknown, req.headers);
      if (r) fail(res, r.status, r.code, r.error);
      else res.status(204).end();
    });
  }
  // The lanes' common case without express (see fastLane); everything else goes through the app.
  app.locals.fastLane = fastLane(o);
  // The append lane as a stream (stream-server.ts), served by listenRaft on the same port.
  const streams: StreamServerOptions = {
    secret: o.secret,
    clusterId: o.clusterId,
    maxBodyBytes: o.maxBodyBytes,
    deliver: (body, req) => laneAnswer(o, "append", body, req.headers),
    propose: (datas) => proposeAnswer(o, datas),
    onRefused: (reason, req) => o.logger.debug("raft stream refused", { reason, remote: req.socket.remoteAddress }),
  };
  app.locals.streams = streams;

  app.post(PROPOSE_PATH, async (req: Request, res: Response) => {
    const r = await proposeAnswer(o, req.body as unknown);
    if ("answers" in r) res.json(r.answers);
    else fail(res, r.status, r.code, r.error);
  });

  app.post(`${RAFT_PREFIX}/join`, async (req: Request, res: Response) => {
    const p = joinProblem(req.body);
    if (p) return void fail(res, 400, "BAD_BODY", p);
    const h = o.handler();
    if (!h) return void fail(res, 503, "NOT_READY", "node is not running yet");
    const b = req.body as Record<string, unknown>;
    const jr: JoinRequest = {
      id: b.id as string,
      incarnation: b.incarnation as string,
      raftAddr: b.raftAddr as string,
      httpUrl: b.httpUrl as string,
      voter: b.voter !== false,
      mode: b.mode as JoinRequest["mode"],
    };
    try {
      const r = await h.join(jr);
      res.status(r.status).json(r.body);
    } catch (e) {
      o.logger.warn("join request failed", { err: e, joiner: jr.id });
      fail(res, 500, "INTERNAL", (e as Error).message);
    }
  });

  app.get(`${RAFT_PREFIX}/info`, (_req: Request, res: Response) => {
    const h = o.handler();
    if (!h) return void fail(res, 503, "NOT_READY", "node is not running yet");
    res.json(h.info());
  });

  app.use((_req: Request, res: Response) => void fail(res, 404, "NOT_FOUND", "no such route"));
  // Express's error signature: body parser failures (413, 400) end up here.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status ?? 500;
    // Other 4xx from the body parser (415: unsupported charset or Content-Encoding) are bad input, not INTERNAL.
    const code =
      status === 413 ? "BODY_TOO_LARGE" : status === 400 ? "BAD_JSON" : status < 500 ? "BAD_BODY" : "INTERNAL";
    if (status >= 500) o.logger.error("raft endpoint failed", { err });
    fail(res, status, code, err.message);
  });
  return app;
}

function header(req: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Checks and delivers the messages of one lane request: undefined when delivered (204), else the refusal. */
function laneAnswer(
  o: RaftServerOptions,
  lane: Lane,
  msgs: unknown,
  headers: IncomingHttpHeaders,
): { status: number; code: string; error: string } | undefined {
  if (!Array.isArray(msgs)) return { status: 400, code: "BAD_BODY", error: "body must be a JSON array of messages" };
  const from: Sender = {
    id: String(headers[HEADERS.from] ?? ""),
    raftAddr: header({ headers }, HEADERS.fromAddr),
    httpUrl: header({ headers }, HEADERS.fromHttp),
  };
  for (const m of msgs) {
    const p = messageProblem(m, lane, o.selfId);
    if (p) return { status: 400, code: "BAD_BODY", error: p };
    if (from.id !== "" && (m as Message).from !== from.id) {
      return {
        status: 400,
        code: "BAD_BODY",
        error: `message from ${(m as Message).from} in a request from ${from.id}`,
      };
    }
  }
  const h = o.handler();
  if (!h?.deliver(msgs as Message[], from)) return { status: 503, code: "NOT_READY", error: "node is not running yet" };
  return undefined;
}

/** Proposes the writes of a /propose request: their answers, or the refusal of the whole request. */
async function proposeAnswer(
  o: RaftServerOptions,
  datas: unknown,
): Promise<{ answers: ProposeAnswer[] } | { status: number; code: string; error: string }> {
  if (!Array.isArray(datas) || !datas.every((d) => typeof d === "string")) {
    return { status: 400, code: "BAD_BODY", error: "body must be a JSON array of strings" };
  }
  const h = o.handler();
  if (!h?.propose) return { status: 503, code: "NOT_READY", error: "node is not running yet" };
  try {
    return { answers: await h.propose(datas as string[]) };
  } catch (e) {
    o.logger.warn("forwarded proposals failed", { err: e });
    return { status: 500, code: "INTERNAL", error: (e as Error).message };
  }
}

const LANE_BY_PATH = new Map<string, Lane>(LANES.map((l) => [lanePath(l), l]));

/**
 * The lanes' common case handled on node:http directly, without express's router and body parser
 * (their cost per request shows in profiles: every Raft message batch is one request). Only a request
 * that is plainly well-formed and authenticated is taken: POST to a lane path with no query,
 * `Content-Type: application/json`, no Content-Encoding, a Content-Length within the limit. Anything
 * else returns false untouched and the express app answers it as before.
 */
function fastLane(o: RaftServerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== "POST") return false;
    const url = req.url ?? "";
    const lane = url === PROPOSE_PATH ? "propose" : LANE_BY_PATH.get(url);
    if (lane === undefined) return false;
    const hd = req.headers;
    if (hd["content-type"] !== "application/json" || hd["content-encoding"] !== undefined) return false;
    if (hd["transfer-encoding"] !== undefined) return false;
    const declared = Number(hd["content-length"]);
    if (!(declared >= 0 && declared <= o.maxBodyBytes)) return false;
    if (!checkAuth(hd, o.secret, o.clusterId).ok) return false;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString("utf8");
      let body: unknown = {};
      // As express.json({strict: true}): an empty body is {}, and only an object or array is JSON here.
      const first = /\S/.exec(text)?.[0];
      if (first !== undefined) {
        try {
          if (first !== "[" && first !== "{")
            throw new SyntaxError(`Unexpected token '${first}': not an object or array`);
          body = JSON.parse(text);
        } catch (e) {
          answer(res, 400, "BAD_JSON", (e as Error).message);
          return;
        }
      }
      if (lane === "propose") {
        void proposeAnswer(o, body).then((r) => {
          if ("answers" in r) {
            const text = JSON.stringify(r.answers);
            res.writeHead(200, {
              "content-type": "application/json; charset=utf-8",
              "content-length": Buffer.byteLength(text),
            });
            res.end(text);
          } else answer(res, r.status, r.code, r.error);
        });
        return;
      }
      const r = laneAnswer(o, lane, body, hd);
      if (r) answer(res, r.status, r.code, r.error);
      else {
        res.statusCode = 204;
        res.end();
      }
    });
    return true;
  };
}

function answer(res: ServerResponse, status: number, code: string, error: string): void {
  const text = JSON.stringify({ code, error });
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Starts the Raft port; resolves once it listens. */
export function listenRaft(app: express.Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const fast = app.locals.fastLane as ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
    const server = createServer((req, res) => {
      if (!fast?.(req, res)) app(req, res);
    });
    const streams = app.locals.streams as StreamServerOptions | undefined;
    if (streams) {
      // Upgraded sockets are no longer the HTTP server's: closing all connections must end them too.
      const closeStreams = serveStreams(server, streams);
      const closeAll = server.closeAllConnections.bind(server);
      server.closeAllConnections = () => {
        closeStreams();
        closeAll();
      };
    }
    server.listen(port, host);
    // Peers keep connections open between heartbeats; outlive their idle sockets.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.once("listening", () => resolve(server));
    server.once("error", reject);
  });
}
