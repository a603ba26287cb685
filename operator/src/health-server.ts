/**
 * The operator's HTTP endpoints (node:http, no framework): /metrics (Prometheus text), /healthz (the
 * process answers) and /readyz (informers synced while leading, or standing by as a non-leader).
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { OperatorMetrics } from "./metrics.ts";

/** What /readyz reports. */
export interface Readiness {
  ready: boolean;
  /** Why, for people reading the answer. */
  detail: string;
}

/** A listening health server. */
export interface HealthServer {
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** Starts serving on host:port; resolves once listening. */
export async function startHealthServer(o: {
  host: string;
  port: number;
  metrics: OperatorMetrics;
  readiness: () => Readiness;
}): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const r = o.readiness();
      res.writeHead(r.ready ? 200 : 503, { "content-type": "text/plain" }).end(`${r.detail}\n`);
    } else if (path === "/metrics") {
      o.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(e)}\n`),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
