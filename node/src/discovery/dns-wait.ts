/**
 * DNS discovery at start: wait, with backoff, until the expected pods'
 * names resolve (the headless Service publishes not-ready pods too), and
 * look up the Service's SRV records for pods beyond the expected ones.
 * Results are used to decide and to dial; IPs are never stored.
 */

import { lookup, resolveSrv } from "node:dns/promises";
import type { Logger } from "../log.ts";

/** Resolves one host name; rejects when it does not resolve. */
export type Lookup = (host: string) => Promise<unknown>;

const defaultLookup: Lookup = (host) => lookup(host);

/** Host part of `host:port`. */
function hostOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(":"));
}

/** Names among `addrs` that resolve now. */
export async function resolvable(addrs: readonly string[], dns: Lookup = defaultLookup): Promise<string[]> {
  const ok = await Promise.all(
    addrs.map((a) =>
      dns(hostOf(a)).then(
        () => true,
        () => false,
      ),
    ),
  );
  return addrs.filter((_, i) => ok[i]);
}

/** Waits until every address in `addrs` resolves; false when `signal` aborted first. */
export async function waitForNames(
  addrs: readonly string[],
  logger: Logger,
  signal: AbortSignal,
  dns: Lookup = defaultLookup,
): Promise<boolean> {
  let delay = 250;
  let lastLog = 0;
  while (!signal.aborted) {
    const seen = await resolvable(addrs, dns);
    if (seen.length === addrs.length) return true;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      logger.info("waiting for peers to appear in DNS", { seen: seen.length, expected: addrs.length });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(5000, delay * 2);
  }
  return false;
}

/** Targets of the Service's `_raft._tcp` SRV records as `host:port` (empty when there are none). */
export async function srvTargets(service: string): Promise<string[]> {
  try {
    const recs = await resolveSrv(`_raft._tcp.${service}`);
    return recs.map((r) => `${r.name.replace(/\.$/, "")}:${r.port}`);
  } catch {
    return [];
  }
}
