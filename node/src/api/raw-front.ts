/**
 * The raw front: the client port's connections are read here first, and a complete `GET /key/<key>` or
 * `POST /key` of the plainest shape (http1-request.ts) is served from the bytes as they came, through the
 * hot routes' own code (lean-path.ts), without node:http's parser, request and response objects. The
 * answer is written as node:http writes it, byte for byte (status line, the route's headers, Date,
 * Connection and Keep-Alive).
 *
 * Anything else, and anything partial (a head or body split over reads), hands the connection over to
 * node:http for good, with the bytes not yet used: node:http then parses, times out and answers as it
 * always did, express included. A hand-over happens only between requests, with no answer pending, so
 * answers stay in order. The front answers one request at a time per connection (pipelined requests wait
 * in the buffer, bounded), and closes connections idle longer than the server's keep-alive timeout.
 */

import { type Server, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { HotRequest, HotResponse } from "./hot-http.ts";
import { type Http1Request, MAX_HEAD_BYTES, readHttp1Request } from "./http1-request.ts";
import type { HotRoutes } from "./lean-path.ts";

/** Options of installRawFront. */
export interface RawFrontOptions {
  /** Largest accepted request body (larger ones go to node:http, which refuses them). */
  maxBodyBytes: number;
  /** Called once per connection handed over, with the reason (tests count them). */
  onHandOver?: (why: "shape" | "timeout") => void;
}

/** How often idle connections are looked at. */
const SWEEP_MS = 1000;

/** node:http's Date header value, made once per second as node:http does. */
let dateSecond = -1;
let dateText = "";
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** The request of one served exchange, as the hot routes read it. */
class FrontRequest implements HotRequest {
  readonly method: string;
  readonly headers: Http1Request["headers"];
  readonly socket: Socket;
  readonly #body: Buffer;
  #taken = false;
  constructor(r: Http1Request, socket: Socket) {
    this.method = r.method;
    this.headers = r.headers;
    this.socket = socket;
    this.#body = r.body;
  }

  /** As node:http's: false while a body is there that the route did not read (an error then closes). */
  get complete(): boolean {
    return this.#taken || this.#body.length === 0;
  }

  /** The body, received whole before the route ran. */
  takeBody(): Buffer {
    this.#taken = true;
    return this.#body;
  }

  /** The body was received whole: nothing to stop. */
  pause(): void {}
}

/** The response of one served exchange: headers collected in order, written in one piece by end(). */
class FrontResponse implements HotResponse {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  readonly req: FrontRequest;
  readonly #conn: FrontConnection;
  /** Header names in lower case → [name as set, value], in the order first set (as node:http keeps them). */
  readonly #headers = new Map<string, [string, string]>();
  #onFinish: Array<() => void> = [];
  #onClose: Array<() => void> = [];

  constructor(req: FrontRequest, conn: FrontConnection) {
    this.req = req;
    this.#conn = conn;
  }

  get destroyed(): boolean {
    return this.#conn.socket.destroyed;
  }

  setHeader(name: string, value: string): this {
    this.#headers.set(name.toLowerCase(), [name, value]);
    return this;
  }

  writeHead(status: number, headers: string[]): this {
    this.statusCode = status;
    for (let i = 0; i + 1 < headers.length; i += 2) this.setHeader(headers[i] as string, headers[i + 1] as string);
    return this;
  }

  end(body?: string | Buffer): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    let head = `HTTP/1.1 ${this.statusCode} ${STATUS_CODES[this.statusCode] ?? "unknown"}\r\n`;
    let close = !this.#conn.keepAlive;
    let connection = false;
    for (const [lower, [name, value]] of this.#headers) {
      head += `${name}: ${value}\r\n`;
      if (lower === "connection") {
        connection = true;
        if (value.toLowerCase() === "close") close = true;
      }
    }
    if (!this.#headers.has("date")) head += `Date: ${httpDate()}\r\n`;
    if (!connection) {
      head += close ? "Connection: close\r\n" : this.#conn.front.keepAliveHeader;
    }
    // node:http adds the length of what end() was given when the route set none (a proxied answer).
    if (!this.#headers.has("content-length")) {
      head += `Content-Length: ${body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.length}\r\n`;
    }
    head += "\r\n";
    const s = this.#conn.socket;
    if (s.destroyed) {
      // The client is gone (errorAnswer would not answer; a late answer has no one to read it).
    } else if (typeof body === "string") s.write(head + body);
    else s.write(body === undefined ? head : Buffer.concat([Buffer.from(head, "latin1"), body]));
    this.writableFinished = true;
    for (const f of this.#onFinish) f();
    this.#onFinish = [];
    this.#conn.done(this, close);
    return this;
  }

  on(event: "close" | "finish", listener: () => void): this {
    (event === "finish" ? this.#onFinish : this.#onClose).push(listener);
    return this;
  }

  off(event: "close" | "finish", listener: () => void): this {
    if (event === "finish") this.#onFinish = this.#onFinish.filter((f) => f !== listener);
    else this.#onClose = this.#onClose.filter((f) => f !== listener);
    return this;
  }

  /** The connection closed: "close" listeners run (forwarding stops waiting for the leader). */
  closed(): void {
    const fs = this.#onClose;
    this.#onClose = [];
    for (const f of fs) f();
  }

  destroy(): this {
    this.#conn.socket.destroy();
    return this;
  }
}

/** One client connection while the front reads it. */
class FrontConnection {
  readonly socket: Socket;
  readonly front: RawFront;
  /** Bytes received and not used yet, in the chunks they came in (joined only when read). */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The client finished sending (its FIN): the connection ends once nothing is left to answer. */
  #ended = false;
  /** The exchange being served; undefined when idle. */
  #current: FrontResponse | undefined;
  keepAlive = true;
  /** Time of the last request or answer, for the idle sweep. */
  lastActive = performance.now();
  /** True until the first request was served (a silent new connection is node:http's to time out). */
  fresh = true;
  readonly #onData = (d: Buffer) => this.#data(d);
  readonly #onClose = () => this.#closed();
  readonly #onError = () => this.socket.destroy();
  readonly #onEnd = () => this.#end();

  constructor(socket: Socket, front: RawFront) {
    this.socket = socket;
    this.front = front;
    socket.setNoDelay(true);
    socket.on("data", this.#onData);
    socket.on("close", this.#onClose);
    socket.on("error", this.#onError);
    socket.on("end", this.#onEnd);
  }

  get idle(): boolean {
    return this.#current === undefined && this.#buffered === 0;
  }

  #data(d: Buffer): void {
    this.#chunks.push(d);
    this.#buffered += d.length;
    if (this.#current !== undefined) {
      // Pipelined requests wait; a client that keeps sending meanwhile is stopped by TCP.
      if (this.#buffered > MAX_HEAD_BYTES + this.front.maxBodyBytes) this.socket.pause();
      return;
    }
    this.#next();
  }

  /** The bytes not used yet, as one buffer (undefined: none). */
  #joined(): Buffer | undefined {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
    return this.#chunks[0];
  }

  #keep(rest: Buffer | undefined): void {
    this.#chunks = rest === undefined || rest.length === 0 ? [] : [rest];
    this.#buffered = rest?.length ?? 0;
  }

  /** Serves the request at the start of the buffer, or hands the connection over. */
  #next(): void {
    const buf = this.#joined();
    if (buf === undefined) {
      if (this.#ended) this.socket.end();
      return;
    }
    const r = readHttp1Request(buf, this.front.maxBodyBytes);
    if (r === undefined || this.front.routes.redirects(r.url, r.query, r.route)) {
      if (this.#ended) {
        // node:http would not see the end any more; what is left is not a request the front serves.
        this.socket.destroy();
        return;
      }
      this.front.handOver(this, "shape");
      return;
    }
    this.#keep(buf.subarray(r.end));
    this.keepAlive = r.keepAlive;
    this.fresh = false;
    this.lastActive = performance.now();
    const req = new FrontRequest(r, this.socket);
    const res = new FrontResponse(req, this);
    this.#current = res;
    this.front.routes.serve(req, res, r.url, r.query, r.route);
  }

  /** The answer of `res` was written; `close`: the connection ends after it. */
  done(res: FrontResponse, close: boolean): void {
    if (this.#current !== res) return;
    this.#current = undefined;
    this.lastActive = performance.now();
    if (close) {
      this.#keep(undefined);
      this.socket.end();
      return;
    }
    if (this.#buffered > 0 || this.#ended) {
      this.socket.resume();
      // Later: an answer written inside a route's call must not run the next request within it.
      queueMicrotask(() => {
        if (this.#current === undefined && !this.socket.destroyed) this.#next();
      });
    }
  }

  /** The client sent its FIN: answer what is complete, then end. */
  #end(): void {
    this.#ended = true;
    if (this.#current === undefined) this.#next();
  }

  /** Stops reading here; returns the bytes not used (for node:http). */
  release(): Buffer | undefined {
    this.socket.off("data", this.#onData);
    this.socket.off("close", this.#onClose);
    this.socket.off("error", this.#onError);
    this.socket.off("end", this.#onEnd);
    this.front.forget(this);
    const b = this.#joined();
    this.#keep(undefined);
    return b;
  }

  #closed(): void {
    this.front.forget(this);
    this.#keep(undefined);
    this.#current?.closed();
  }
}

/** The front of one client server (installRawFront). */
export class RawFront {
  readonly routes: HotRoutes;
  readonly maxBodyBytes: number;
  readonly #server: Server;
  readonly #toHttp: (socket: Socket) => void;
  readonly #conns = new Set<FrontConnection>();
  readonly #onHandOver: RawFrontOptions["onHandOver"];
  readonly #sweep: NodeJS.Timeout;
  #keepAliveMs = -1;
  #keepAliveHeader = "";

  constructor(server: Server, toHttp: (socket: Socket) => void, routes: HotRoutes, o: RawFrontOptions) {
    this.#server = server;
    this.#toHttp = toHttp;
    this.routes = routes;
    this.maxBodyBytes = o.maxBodyBytes;
    this.#onHandOver = o.onHandOver;
    this.#sweep = setInterval(() => this.#sweepIdle(), SWEEP_MS);
    this.#sweep.unref();
    server.on("close", () => clearInterval(this.#sweep));
  }

  /** The Connection and Keep-Alive lines node:http writes for the server's keepAliveTimeout. */
  get keepAliveHeader(): string {
    const ms = this.#server.keepAliveTimeout;
    if (ms !== this.#keepAliveMs) {
      this.#keepAliveMs = ms;
      this.#keepAliveHeader = `Connection: keep-alive\r\n${ms ? `Keep-Alive: timeout=${Math.floor(ms / 1000)}\r\n` : ""}`;
    }
    return this.#keepAliveHeader;
  }

  /** Takes a new connection. */
  accept(socket: Socket): void {
    this.#conns.add(new FrontConnection(socket, this));
  }

  /** Gives `conn`'s socket, with the bytes it has not used, to node:http for good. */
  handOver(conn: FrontConnection, why: "shape" | "timeout"): void {
    const rest = conn.release();
    if (rest !== undefined) conn.socket.unshift(rest);
    conn.socket.resume();
    this.#onHandOver?.(why);
    this.#toHttp(conn.socket);
  }

  /** Drops a connection from the front's set (closed or handed over). */
  forget(conn: FrontConnection): void {
    this.#conns.delete(conn);
  }

  /** Closes the front's idle connections (as Server.closeIdleConnections does node:http's). */
  closeIdle(): void {
    for (const c of this.#conns) if (c.idle) c.socket.destroy();
  }

  /** Closes every connection the front still reads. */
  closeAll(): void {
    for (const c of this.#conns) c.socket.destroy();
  }

  /** Idle connections past the keep-alive timeout are closed; a new one that sent nothing goes to node:http. */
  #sweepIdle(): void {
    const now = performance.now();
    const keepAlive = this.#server.keepAliveTimeout;
    const headers = this.#server.headersTimeout;
    for (const c of this.#conns) {
      if (!c.idle) continue;
      if (c.fresh) {
        // node:http then times it out as it does any silent connection.
        if (now - c.lastActive >= Math.min(headers, keepAlive || headers)) this.handOver(c, "timeout");
      } else if (keepAlive > 0 && now - c.lastActive >= keepAlive) c.socket.destroy();
    }
  }
}

/**
 * Puts a raw front before `server`'s own connection handling: `server` keeps listening, timing out and
 * closing as before, and gets every connection the front hands over. closeIdleConnections and
 * closeAllConnections cover the front's connections too. Returns undefined (and changes nothing) when
 * `server` does not have exactly node:http's one connection listener.
 */
export function installRawFront(server: Server, routes: HotRoutes, o: RawFrontOptions): RawFront | undefined {
  const listeners = server.listeners("connection");
  const toHttp = listeners[0] as ((socket: Socket) => void) | undefined;
  if (listeners.length !== 1 || toHttp === undefined) return undefined;
  const front = new RawFront(server, (socket) => toHttp.call(server, socket), routes, o);
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => front.accept(socket));
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    front.closeIdle();
    closeIdle();
  };
  server.closeAllConnections = () => {
    front.closeAll();
    closeAll();
  };
  return front;
}
