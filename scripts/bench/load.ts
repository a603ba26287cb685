/** The closed-loop load generator: workloads, one measured run, read-back checks, preloading keys for reads. */

import { Agent } from "node:http";
import type { System } from "./system.ts";
import { cpuOf, ctlAgent, http, log, pct, sleep } from "./util.ts";

/** One workload of the table. */
export interface Workload {
  name: string;
  clients: number;
  /** Fraction of operations that are writes. */
  writes: number;
  valueBytes: number;
  stale: boolean;
}

/** What one measured run gives. */
export interface RunResult {
  ops: number;
  errors: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  p999: number;
  /** Keys written with their values, for the read-back check. */
  written: Map<string, string>;
  /** CPU milliseconds all members used per operation (warm-up included on both sides). */
  cpuMsPerOp: number;
}

/** Keys the read workloads read (preloaded). */
export const READ_KEYS = 1000;

/** A value of `bytes` characters for `key` (distinct per key, so read-backs can tell them apart). */
export function valueFor(key: string, bytes: number): string {
  const base = `${key}:`;
  return base.length >= bytes ? base.slice(0, bytes) : base + "x".repeat(bytes - base.length);
}

let runCounter = 0;

/**
 * Closed loop: `clients` workers, each with its own member (round robin from member `first`), until the
 * window ends.
 */
export async function drive(
  sys: System,
  w: Workload,
  warmupMs: number,
  windowMs: number,
  first = 0,
): Promise<RunResult> {
  const run = ++runCounter;
  const agents = sys.ports.map(
    () => new Agent({ keepAlive: true, maxSockets: Math.max(1, Math.ceil(w.clients / sys.ports.length) + 1) }),
  );
  const lat: number[] = [];
  let ops = 0;
  let errors = 0;
  const written = new Map<string, string>();
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const end = measureFrom + windowMs;
  let seq = 0;
  let allOps = 0;
  const pids = sys.pids();
  const cpu0 = pids.reduce((a, p) => a + cpuOf(p), 0);
  await Promise.all(
    Array.from({ length: w.clients }, async (_, c) => {
      const m = (c + first) % sys.ports.length;
      const port = sys.ports[m] as number;
      const agent = agents[m] as Agent;
      for (let i = 0; ; i++) {
        const start = performance.now();
        if (start >= end) break;
        const isWrite = w.writes >= 1 || (w.writes > 0 && (seq++ * 7919) % 100 < w.writes * 100);
        let key: string;
        let req: { method: string; path: string; body?: string };
        let value = "";
        if (isWrite) {
          key = `bench/${run}/${c}/${i}`;
          value = valueFor(key, w.valueBytes);
          req = sys.put(key, value);
        } else {
          key = `read/${(c * 131 + i * 17) % READ_KEYS}`;
          req = sys.get(key, w.stale);
        }
        try {
          const r = await http(agent, port, req.method, req.path, req.body);
          const done = performance.now();
          if (r.status !== 200) {
            errors++;
            if (errors <= 3) log(`${sys.name} ${w.name}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
            continue;
          }
          allOps++;
          if (isWrite && (i & 7) === 0) written.set(key, value);
          if (start >= measureFrom && done <= end) {
            ops++;
            lat.push(done - start);
          }
        } catch (e) {
          errors++;
          if (errors <= 3) log(`${sys.name} ${w.name}: ${(e as Error).message}`);
          await sleep(10);
        }
      }
    }),
  );
  const cpu1 = pids.reduce((a, p) => a + cpuOf(p), 0);
  for (const a of agents) a.destroy();
  const sorted = Float64Array.from(lat).sort();
  return {
    ops,
    errors,
    opsPerSec: ops / (windowMs / 1000),
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    p999: pct(sorted, 99.9),
    written,
    cpuMsPerOp: ((cpu1 - cpu0) * 1000) / Math.max(1, allOps),
  };
}

/** Read-backs answered 503 and retried (reported with the results). */
export const readBackStats = { retries: 0 };

/** Reads a sample of `written` back from a follower (linearizable); throws on any mismatch. */
export async function readBack(sys: System, written: Map<string, string>, sample = 50): Promise<number> {
  const f = await sys.follower();
  const keys = [...written.keys()];
  const step = Math.max(1, Math.floor(keys.length / sample));
  let checked = 0;
  for (let i = 0; i < keys.length; i += step) {
    const key = keys[i] as string;
    const req = sys.get(key, false);
    let r = await http(ctlAgent, sys.ports[f] as number, req.method, req.path, req.body);
    // 503 says "retry" (e.g. a read not confirmed while the members write a snapshot); a wrong value fails.
    for (let attempt = 0; r.status === 503 && attempt < 10; attempt++) {
      readBackStats.retries++;
      await sleep(500);
      r = await http(ctlAgent, sys.ports[f] as number, req.method, req.path, req.body);
    }
    const got = r.status === 200 ? sys.value(r.body, key) : undefined;
    if (got !== written.get(key)) {
      throw new Error(`read-back mismatch on ${sys.name} member ${f}: ${key} → ${r.status} ${r.body.slice(0, 120)}`);
    }
    checked++;
  }
  return checked;
}

/** Writes the keys the read workloads read. */
export async function preload(sys: System): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const port = sys.ports[(await sys.leader()) as number] as number;
  for (let i = 0; i < READ_KEYS; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, READ_KEYS - i) }, async (_, j) => {
        const key = `read/${i + j}`;
        const req = sys.put(key, valueFor(key, 256));
        const r = await http(agent, port, req.method, req.path, req.body);
        if (r.status !== 200) throw new Error(`preload ${sys.name}: HTTP ${r.status} ${r.body}`);
      }),
    );
  }
  agent.destroy();
}
