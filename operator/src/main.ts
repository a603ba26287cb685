#!/usr/bin/env node
/**
 * raftkv-operator: configuration from the environment (see config.ts), then the operator until SIGTERM
 * or SIGINT. Exit codes: 0 after a clean stop, 2 for bad configuration, 1 for anything else.
 */

import { ConfigError, formatConfigError, loadConfig, type OperatorConfig } from "./config.ts";
import { loadKubeConfig } from "./kube/kube-clients.ts";
import { createLogger } from "./log.ts";
import type { RunningOperator } from "./operator.ts";

/** Hard limit of a graceful shutdown; past it the process exits 1. */
const SHUTDOWN_LIMIT_MS = 8_000;

async function main(): Promise<void> {
  let config: OperatorConfig;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${formatConfigError(e)}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  let op: RunningOperator | undefined;
  let exiting = false;
  const exit = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info("shutting down", { signal });
    setTimeout(() => {
      logger.error("shutdown took too long; exiting", { limitMs: SHUTDOWN_LIMIT_MS });
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    await op?.stop();
    process.exit(0);
  };
  process.once("SIGTERM", () => void exit("SIGTERM"));
  process.once("SIGINT", () => void exit("SIGINT"));

  let kc: ReturnType<typeof loadKubeConfig>;
  try {
    kc = loadKubeConfig();
  } catch (e) {
    process.stderr.write(`raftkv-operator: cannot load the Kubernetes client configuration: ${String(e)}\n`);
    process.exit(1);
  }
  // Loaded only now so a configuration error exits before the rest of the program is even read.
  const { startOperator } = await import("./operator.ts");
  op = await startOperator({ kc, config, logger });
  if (exiting) await op.stop();
}

main().catch((e: unknown) => {
  process.stderr.write(`raftkv-operator: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
