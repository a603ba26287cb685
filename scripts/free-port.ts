/**
 * Free TCP ports for tests and the bench, chosen below the kernel's
 * ephemeral range. A port probed with `listen(0)` comes from that range, so
 * between the probe and the server's own bind any outgoing connection on the
 * machine may take it ("bind: address already in use", seen in CI for etcd).
 * Outgoing connections never use ports outside the range, so a port picked
 * there can only be taken by another listener, and those pick at random too.
 */

import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The lowest port handed out; below it lie the usual fixed service ports. */
const FLOOR = 10_000;
/** Attempts before falling back to a port from the ephemeral range. */
const ATTEMPTS = 64;
/** Ports this process handed out: a released probe does not stop a second pick of the same one. */
const given = new Set<number>();

let ephemeral: number | undefined;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read), read once. */
export function ephemeralStart(): number {
  ephemeral ??= readEphemeralStart();
  return ephemeral;
}

function readEphemeralStart(): number {
  try {
    const first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > FLOOR + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** Binds `port` on `host` and releases it; resolves the port bound, or undefined when it is taken. */
function probe(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(undefined));
    s.listen({ port, host, exclusive: true }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : undefined));
    });
  });
}

/** A TCP port free on `host` now, below the ephemeral range when one is free there. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return portIn(host, FLOOR, ephemeralStart());
}

/** A TCP port free on `host` now, from [lo, hi) when one is found there, else any the kernel gives. */
export async function portIn(host: string, lo: number, hi: number): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (given.has(port)) continue;
    if ((await probe(host, port)) === port) {
      given.add(port);
      return port;
    }
  }
  const port = await probe(host, 0);
  if (port === undefined) throw new Error(`no free TCP port on ${host}`);
  given.add(port);
  return port;
}
