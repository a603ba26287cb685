#!/usr/bin/env node
/**
 * raftkv-node: one node from environment variables (see config.ts); with no
 * variables at all it runs a one-node cluster on :11000 (HTTP) and :12000
 * (Raft). Exit codes: 0 after a clean SIGTERM/SIGINT, 2 for bad
 * configuration, 3 for damaged storage, 1 for anything else. A full disk is
 * not an exit: the node suspends itself until there is room (see the loop in
 * main()).
 */

import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { createApiApp, hotRoutesOf } from "./api/app.ts";
import { createClientServer } from "./api/client-server.ts";
import { type Config, formatConfigError, loadConfig } from "./config.ts";
import { TopologyError, topology } from "./discovery/peers.ts";
import { createLogger, type Logger } from "./log.ts";
import { metrics, recordHttpRequest, recordKvCacheRead, registry } from "./metrics.ts";
import { NodeSlot, StandInNode } from "./server/node-slot.ts";
import { type StartedNode, startNode } from "./server/start-node.ts";
import { DiskGuard } from "./storage/disk-guard.ts";
import { isNoSpace, StorageError } from "./storage/open-level.ts";
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

  const abort = new AbortController();
  const disk = cfg.kvStore === "memory" ? undefined : diskGuard(cfg, logger);
  // Damaged or locked storage ends the process here, before any port opens; a full disk is waited out below.
  let storage: NodeStorage | undefined = await openStorageOrExit(cfg, logger);
  const slot = new NodeSlot(new StandInNode(cfg.nodeId, "NOT_READY", "node is starting"));
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
    disk?.stop();
    // Stop accepting client requests first; requests in flight finish or fail with UNAVAILABLE.
    httpServer?.close();
    httpServer?.closeIdleConnections();
    if (started) await started.shutdown();
    else await storage?.close().catch(() => {});
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

  const app = createApiApp(slot, {
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
  // The hot routes' plainest requests are read off the socket before node:http (api/raw-front.ts).
  const routes = hotRoutesOf(app);
  httpServer = createClientServer(app, routes && { front: { routes, maxBodyBytes: cfg.maxBodyBytes } });
  httpServer.keepAliveTimeout = 65_000;
  const server = httpServer;
  const listening = await new Promise<boolean>((resolve) => {
    server.once("error", (e) => {
      logger.error("cannot listen for client requests", { err: e, addr: cfg.httpAddr, port: cfg.httpPort });
      resolve(false);
    });
    server.listen(cfg.httpPort, cfg.httpAddr, () => resolve(true));
  });
  if (!listening) return void exit(1, "HTTP listen failed");

  // One pass per life of the Raft node. A full disk does not end the process: the node stops, its store is
  // closed, and once there is room the store is reopened and a new node resumes from what it holds, as after
  // a crash (nothing acknowledged is lost, nothing unacknowledged is trusted).
  let first = true;
  let storageError: Error | undefined;
  while (!exiting) {
    if (!storage) {
      if (!disk) return void exit(1, "storage is gone");
      await waitForRoom(storageError, disk, logger, abort.signal, (reason) =>
        slot.replace(new StandInNode(cfg.nodeId, "STORAGE_FULL", reason)),
      );
      if (exiting) return;
      storage = await openStorageOrExit(cfg, logger);
      if (!storage) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
    }
    const opened = storage;
    let suspend: (e: Error) => void = () => {};
    const failed = new Promise<Error>((resolve) => (suspend = resolve));
    try {
      started = await startNode(cfg, {
        storage: opened,
        topology: topo,
        logger,
        version,
        signal: abort.signal,
        ...(disk ? { disk } : {}),
        onFatal: (e) => {
          if (disk && isNoSpace(e)) return suspend(e);
          // Damaged data found while running (e.g. a value failing its checksum on read): stop serving, exit 3.
          const corrupt = e instanceof StorageError && e.code === "CORRUPT";
          logger.error(corrupt ? "damaged storage found while running; the node stops" : "fatal node error", {
            err: e,
          });
          if (corrupt) process.stderr.write(`raftkv-node: ${e.message}\n`);
          void exit(corrupt ? 3 : 1, "fatal error");
        },
      });
      slot.replace(started.api);
      if (first) {
        logger.info("raftkv node started", {
          version,
          http: `${cfg.httpAddr}:${cfg.httpPort}`,
          raft: `${cfg.raftAddr}:${cfg.raftPort}`,
          advertise: topo.self,
          stateDir: cfg.kvStore === "memory" ? null : cfg.stateDir,
          kvStore: cfg.kvStore,
          discovery: cfg.discovery,
          minFreeBytes: disk?.minFreeBytes ?? null,
        });
      }
      first = false;
    } catch (e) {
      if (exiting) return;
      if (!(disk && isNoSpace(e))) {
        // A store found inconsistent while resuming (e.g. compacted beyond its KV data) exits 3, as at open.
        const corrupt = e instanceof StorageError && e.code === "CORRUPT";
        logger.error("cannot start", { err: e });
        if (corrupt) process.stderr.write(`raftkv-node: ${(e as Error).message}\n`);
        await opened.close().catch(() => {});
        process.exit(corrupt ? 3 : 1);
      }
      suspend(e as Error);
    }
    storageError = await failed;
    if (exiting) return;
    // Refuse everything first, then stop the node and close its store (no write may follow a failed one).
    slot.replace(new StandInNode(cfg.nodeId, "STORAGE_FULL", suspendedReason(storageError, disk)));
    metrics.storageSuspensions.inc();
    metrics.storageSuspended.set(1);
    metrics.isLeader.set(0);
    metrics.hasLeader.set(0);
    logger.error("storage full: a write failed; the node is suspended until there is room", { err: storageError });
    const s = started;
    started = undefined;
    storage = undefined;
    if (s) await s.shutdown();
    else await opened.close().catch(() => {});
  }
}

/** The STATE_DIR free-space guard, with its metrics and log lines. */
function diskGuard(cfg: Config, logger: Logger): DiskGuard {
  const guard = new DiskGuard({
    dir: cfg.stateDir,
    minFreeBytes: cfg.minFreeBytes,
    onMeasure: (free, low) => {
      metrics.diskFree.set(free);
      metrics.diskLow.set(low ? 1 : 0);
    },
    onChange: (low, free) => {
      if (low) {
        logger.warn("disk space low: client writes are refused and no new log entries are accepted", {
          freeBytes: free,
          minFreeBytes: cfg.minFreeBytes,
          stateDir: cfg.stateDir,
        });
      } else logger.info("disk space recovered: writes are accepted again", { freeBytes: free });
    },
    onError: (e) => logger.warn("cannot measure free space in STATE_DIR", { err: e, stateDir: cfg.stateDir }),
  });
  guard.start();
  return guard;
}

/** Free bytes needed before a suspended store is reopened (LevelDB's recovery writes a table and a new log). */
const MIN_ROOM_TO_REOPEN = 4 * 1024 * 1024;

/** Free bytes a suspended node waits for: the guard's recovery level, and never less than MIN_ROOM_TO_REOPEN. */
function roomToReopen(disk: DiskGuard | undefined): number {
  return Math.max(disk?.recoverAt ?? 0, MIN_ROOM_TO_REOPEN);
}

/** What a suspended node answers (STORAGE_FULL) while it waits for room. */
function suspendedReason(e: Error | undefined, disk: DiskGuard | undefined): string {
  const need = roomToReopen(disk);
  const why = e ? `a write failed (${e.message})` : "the store cannot be opened";
  return `storage full: ${why}; the node is suspended and serves nothing until ${need} bytes are free in STATE_DIR`;
}

/** Suspended (STORAGE_FULL for everything) until the disk has room to reopen the store, or `signal` aborts. */
async function waitForRoom(
  e: Error | undefined,
  disk: DiskGuard,
  logger: Logger,
  signal: AbortSignal,
  standIn: (reason: string) => void,
): Promise<void> {
  const need = roomToReopen(disk);
  standIn(suspendedReason(e, disk));
  metrics.storageSuspended.set(1);
  while (!signal.aborted) {
    if (await disk.waitForFree(need, 1000, AbortSignal.any([signal, AbortSignal.timeout(30_000)]))) break;
    logger.warn("still waiting for free space in STATE_DIR", { freeBytes: disk.free, needBytes: need });
  }
  metrics.storageSuspended.set(0);
  if (!signal.aborted) logger.info("there is room again: reopening storage", { freeBytes: disk.free });
}

/**
 * Opens the stores; undefined when the disk is full (the caller waits for
 * room). Damaged or locked storage is reported plainly and ends the process
 * (3 or 1).
 */
async function openStorageOrExit(cfg: Config, logger: Logger): Promise<NodeStorage | undefined> {
  try {
    return await openStorage(cfg.kvStore, cfg.stateDir, {
      cacheBytes: cfg.kvCacheBytes,
      onCacheRead: recordKvCacheRead,
    });
  } catch (e) {
    if (cfg.kvStore !== "memory" && isNoSpace(e)) {
      logger.error("cannot open storage: the disk is full", { err: e, stateDir: cfg.stateDir });
      return undefined;
    }
    if (!(e instanceof StorageError)) throw e;
    logger.error("cannot open storage", { err: e, stateDir: cfg.stateDir, code: e.code });
    process.stderr.write(`raftkv-node: ${e.message}\n`);
    process.exit(e.code === "CORRUPT" ? 3 : 1);
  }
}

await main();
