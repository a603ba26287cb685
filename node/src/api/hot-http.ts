/**
 * The parts of node:http's request and response that the hot routes, forwarding and the error answers use.
 * node:http's IncomingMessage and ServerResponse fit them as they are; the raw front (raw-front.ts) has
 * small classes of its own that fit them too, so one piece of route code serves both.
 */

import type { IncomingHttpHeaders } from "node:http";

/** A request as the hot routes read it. */
export interface HotRequest {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** True once the whole body was received. */
  readonly complete: boolean;
  readonly socket: { readonly destroyed: boolean };
  /** Stops reading the body (a refused request's rest is not read). */
  pause(): unknown;
  /**
   * The body, when it was received before the route ran (the raw front's requests); node:http's
   * requests have none and their body is read from the stream. Until it is called, `complete` is false
   * for a request with a body, as node:http's is until the route reads it.
   */
  takeBody?(): Buffer;
}

/** A response as the hot routes write it. */
export interface HotResponse {
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  readonly req: { readonly method?: string | undefined };
  setHeader(name: string, value: string): unknown;
  /** Sets the status and headers (name, value, name, value, ...) before the body. */
  writeHead(status: number, headers: string[]): unknown;
  end(body?: string | Buffer, encoding?: BufferEncoding): unknown;
  on(event: "close" | "finish", listener: () => void): unknown;
  off(event: "close" | "finish", listener: () => void): unknown;
  destroy(): unknown;
}
