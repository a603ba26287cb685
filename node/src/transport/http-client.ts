/**
 * One keep-alive HTTP client for everything a node sends to its peers' Raft
 * ports. node:http resolves the host name each time it opens a connection,
 * so a peer given as a DNS name is re-resolved after every connection
 * failure and its IP is never remembered.
 */

import { Agent, request } from "node:http";

/** A finished response: status and body text. */
export interface HttpReply {
  status: number;
  body: string;
}

/** Splits `host:port` (IPv6 in brackets) into its parts. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(":");
  if (colon <= 0) throw new Error(`address ${addr} has no port`);
  let host = addr.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const port = Number(addr.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`address ${addr} has a bad port`);
  return { host, port };
}

/** Options of one request. */
export interface RequestOptions {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Largest response body accepted. */
  maxResponseBytes?: number;
}

/** A keep-alive client; `close()` drops every idle connection. */
export class HttpClient {
  readonly #agent = new Agent({ keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 8, maxFreeSockets: 8 });

  /** Sends one request to `addr` (`host:port`); rejects on network errors and timeouts. */
  send(addr: string, o: RequestOptions): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
      let target: { host: string; port: number };
      try {
        target = splitHostPort(addr);
      } catch (e) {
        reject(e);
        return;
      }
      const headers: Record<string, string | number> = { ...o.headers };
      if (o.body !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = Buffer.byteLength(o.body);
      }
      const max = o.maxResponseBytes ?? 1 << 20;
      const req = request(
        { host: target.host, port: target.port, method: o.method, path: o.path, headers, agent: this.#agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > max) {
              req.destroy(new Error(`response from ${addr} exceeds ${max} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`request to ${addr}${o.path} timed out`)));
      req.on("error", reject);
      req.end(o.body);
    });
  }

  /** Closes idle connections and stops keeping new ones. */
  close(): void {
    this.#agent.destroy();
  }
}
