/**
 * Seeded generator of linearizable key-value histories, for testing and
 * benchmarking the checker: a sequential simulation decides each operation's
 * effect at its linearization point, then the call/return window is drawn
 * around that point, respecting that each client runs one operation at a time.
 */

import type { Json, Operation } from "./history.ts";
import { canonicalJson } from "./history.ts";

/** Knobs for randomHistory(); all but `ops` and `seed` have defaults. */
export interface RandomHistoryOptions {
  /** Number of operations. */
  ops: number;
  /** PRNG seed (the same seed gives the same history). */
  seed: number;
  /** Number of keys (default 16). */
  keys?: number;
  /** Number of concurrent clients (default 10). */
  clients?: number;
  /** Max distance of call/return from the linearization point (default 30). */
  spread?: number;
  /** Fraction of operations whose outcome is unknown (default 0.01). */
  unknownRate?: number;
  /** Fraction of writes that definitely failed (default 0.01). */
  failRate?: number;
  /** 0 (default): every write has a fresh value; n > 0: values drawn from n small ints, so reads are ambiguous. */
  valueDomain?: number;
}

/** Small, fast, seedable PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Copy of a JSON value with object keys in reverse order, so equality must be deep, not textual. */
function reordered(v: Json): Json {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(reordered);
  const out: { [k: string]: Json } = {};
  for (const k of Object.keys(v).reverse()) out[k] = reordered(v[k] ?? null);
  return out;
}

/** Generates a linearizable history (including unknown and failed operations) from a sequential simulation. */
export function randomHistory(o: RandomHistoryOptions): Operation[] {
  const rand = prng(o.seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const nKeys = o.keys ?? 16;
  const nClients = o.clients ?? 10;
  const spread = o.spread ?? 30;
  const unknownRate = o.unknownRate ?? 0.01;
  const failRate = o.failRate ?? 0.01;
  const domain = o.valueDomain ?? 0;
  const state = new Map<string, Json>();
  const written = new Map<string, Json[]>(); // per key, for plausible-but-wrong cas expectations
  const free = new Array<number>(nClients).fill(-1); // time after which each client may call again
  const history: Operation[] = [];
  let counter = 0;
  const freshValue = (client: number): Json => {
    if (domain > 0) return int(domain);
    counter++;
    // Mix shapes so canonical JSON comparison gets exercised.
    return counter % 3 === 0
      ? { n: counter, by: client, tags: ["x", counter % 7] }
      : counter % 3 === 1
        ? `v${counter}`
        : counter;
  };
  let t = 0;
  for (let i = 0; i < o.ops; i++) {
    t += 1 + int(2);
    let client = int(nClients);
    if ((free[client] ?? 0) >= t) {
      // Busy: take the client that frees up first, and wait for it if needed.
      client = free.indexOf(Math.min(...free));
      t = Math.max(t, (free[client] ?? 0) + 1);
    }
    const key = `k${int(nKeys)}`;
    const call = t - int(Math.min(spread, t - (free[client] ?? 0)));
    const ret = t + int(spread);
    const r = rand();
    const kindRoll = rand();
    const kind = kindRoll < 0.4 ? "get" : kindRoll < 0.7 ? "set" : kindRoll < 0.9 ? "cas" : "delete";
    const status = r < unknownRate ? "unknown" : kind !== "get" && r < unknownRate + failRate ? "fail" : "ok";
    // Unknown outcomes take effect half the time; failed ones never.
    const applies = status === "ok" || (status === "unknown" && rand() < 0.5);
    const current = state.get(key) ?? null;
    const op: Operation = { id: i, client, kind, key, call };
    if (kind === "get") {
      op.output = reordered(current);
    } else if (kind === "set" || kind === "cas") {
      const value = freshValue(client);
      op.value = value;
      if (kind === "cas") {
        const old = written.get(key) ?? [];
        const pick = rand();
        op.expect =
          pick < 0.5 ? reordered(current) : pick < 0.6 || old.length === 0 ? null : (old[int(old.length)] ?? null);
        const matches = canonicalJson(op.expect) === canonicalJson(current);
        op.output = matches;
        if (matches && applies) state.set(key, value);
      } else if (applies) state.set(key, value);
      if (applies) written.set(key, [...(written.get(key) ?? []).slice(-20), value]);
    } else if (applies) {
      state.delete(key);
    }
    if (status !== "unknown") op.ret = ret;
    if (status !== "ok") op.status = status;
    // A client that timed out gives up and moves on after the timeout.
    free[client] = status === "unknown" ? t + 2 * spread : ret;
    history.push(op);
  }
  return history;
}
