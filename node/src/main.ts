#!/usr/bin/env node
/**
 * raftkv-node: one node from environment variables (see config.ts); with no
 * variables at all it runs a one-node cluster on :11000 (HTTP) and :12000
 * (Raft). Exit codes: 0 after a clean SIGTERM/SIGINT, 2 for bad
 * configuration, 3 for damaged storage, 1 for anything else.
 */

import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { createApiApp } from "./api/app.ts";
import { createClientServer } from "./api/client-server.ts";
import { type Config, formatConfigError, loadConfig } from "./config.ts";
import { TopologyError, topology } from "./discovery/peers.ts";
import { createLogger, type Logger } from "./log.ts";
import { recordHttpRequest, registry } from "./metrics.ts";
import { type StartedNode, startNode } from "./server/start-node.ts";
import { StorageError } from "./storage/open-level.ts";
import { type NodeStorage, openStorage } from "./storage/open-storage.ts";

/** Hard limit of a graceful shutdown; past it the process exits 1. */
const SHUTDOWN_LIMIT_MS = 10_000;

const version = (
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
    version: string;
  }
).version;

async function main(): Promise<void> {
  const cfg = await loadConfig();
  const logger = createLogger(cfg.logLevel, { node: cfg.nodeId });
  let topo: ReturnType<typeof topology>;
  try {
    topo = topology(cfg, process.env);
  } catch (e) {
    if (!(e instanceof TopologyError)) throw e;
    process.stderr.write(`${formatConfigError({ variable: e.variable, problem: e.message })}\n`);
    process.exit(2);
  }
  if (cfg.secret === undefined) {
    logger.warn(
      "RAFT_SECRET is not set: the Raft port accepts any peer that knows the cluster id; set RAFT_SECRET or RAFT_SECRET_FILE",
    );
  }

  const storage = await openStorageOrExit(cfg, logger);
  const abort = new AbortController();
  let started: StartedNode | undefined;
  let httpServer: Server | undefined;
  let exiting = false;

  const exit = async (code: number, why: string) => {
    if (exiting) return;
    exiting = true;
    logger.info("shutting down", { why });
    const limit = setTimeout(() => {
      logger.error("shutdown took too long; exiting", { limitMs: SHUTDOWN_LIMIT_MS });
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    limit.unref();
    abort.abort();
    // Stop accepting client requests first; requests in flight finish or fail with UNAVAILABLE.
    httpServer?.close();
    httpServer?.closeIdleConnections();
    if (started) await started.shutdown();
    else await storage.close().catch(() => {});
    httpServer?.closeAllConnections();
    logger.info("stopped", { exitCode: code });
    process.exit(code);
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      if (exiting) {
        logger.warn("second signal: exiting now", { signal: sig });
        process.exit(1);
      }
      void exit(0, sig);
    });
  }
  process.on("uncaughtException", (e) => {
    logger.error("uncaught exception", { err: e, stack: e.stack });
    void exit(1, "uncaught exception");
  });

  try {
    started = await startNode(cfg, {
      storage,
      topology: topo,
      logger,
      version,
      signal: abort.signal,
      onFatal: (e) => {
        // Damaged data found while running (e.g. a value failing its checksum on read): stop serving, exit 3.
        const corrupt = e instanceof StorageError && e.code === "CORRUPT";
        logger.error(corrupt ? "damaged storage found while running; the node stops" : "fatal node error", { err: e });
        if (corrupt) process.stderr.write(`raftkv-node: ${e.message}\n`);
        void exit(corrupt ? 3 : 1, "fatal error");
      },
    });
  } catch (e) {
    if (exiting) return;
    logger.error("cannot start", { err: e });
    await storage.close().catch(() => {});
    process.exit(1);
  }

  const app = createApiApp(started.api, {
    maxBodyBytes: cfg.maxBodyBytes,
    logger,
    adminSecret: cfg.secret,
    metrics: (route, method, code, forwarded, seconds) =>
      recordHttpRequest({ route, method, code, forwarded, seconds }),
    metricsHandler: async (_req, res) => {
      res.setHeader("content-type", registry.contentType);
      res.end(await registry.metrics());
    },
  });
  // Bounded header/request timeouts, and JSON errors for requests Node's HTTP parser refuses.
  httpServer = createClientServer(app);
  httpServer.keepAliveTimeout = 65_000;
  const server = httpServer;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.httpPort, cfg.httpAddr, () => resolve());
  }).catch((e: Error) => {
    logger.error("cannot listen for client requests", { err: e, addr: cfg.httpAddr, port: cfg.httpPort });
    void exit(1, "HTTP listen failed");
  });
  logger.info("raftkv node started", {
    version,
    http: `${cfg.httpAddr}:${cfg.httpPort}`,
    raft: `${cfg.raftAddr}:${cfg.raftPort}`,
    advertise: topo.self,
    stateDir: cfg.kvStore === "memory" ? null : cfg.stateDir,
    kvStore: cfg.kvStore,
    discovery: cfg.discovery,
  });
}

/** Opens the stores; damaged or locked storage is reported plainly and ends the process (3 or 1). */
async function openStorageOrExit(cfg: Config, logger: Logger): Promise<NodeStorage> {
  try {
    return await openStorage(cfg.kvStore, cfg.stateDir);
  } catch (e) {
    if (!(e instanceof StorageError)) throw e;
    logger.error("cannot open storage", { err: e, stateDir: cfg.stateDir, code: e.code });
    process.stderr.write(`raftkv-node: ${e.message}\n`);
    process.exit(e.code === "CORRUPT" ? 3 : 1);
  }
}

await main();
