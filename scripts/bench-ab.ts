/**
 * Paired A/B of two raftkv builds (or settings) under the bench's closed-loop load: two 3-node clusters run
 * side by side and short windows alternate between them, so the machine's swings (±20% between windows of
 * one build here) fall on both. Prints each side's median ops/s and p50, and the medians of the per-round
 * ratios B/A. With `--role`, every window's clients start at that member of each cluster (the leader, or the
 * member after it): with one client, the latency of a write at the leader or at a follower.
 *
 *   node scripts/bench-ab.ts --a ../old/node/src/main.ts [--b node/src/main.ts] [--a-env "K=V ..."]
 *     [--b-env "K=V ..."] [--clients 64] [--rounds 10] [--window 2500] [--role leader|follower]
 *
 * A ratio is a measurement, not a test: nothing here fails on a number.
 */

import { join } from "node:path";
import { drive, type Workload } from "./bench/load.ts";
import { MAIN } from "./bench/options.ts";
import { Raftkv } from "./bench/raftkv.ts";

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(n);
  return i >= 0 ? (argv[i + 1] ?? d) : d;
};
const envOf = (s: string) =>
  Object.fromEntries(
    s
      .split(" ")
      .filter((kv) => kv.includes("="))
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
const progOf = (p: string) => (p.startsWith("/") ? p : join(process.cwd(), p));

const a = { main: progOf(opt("--a", MAIN)), env: envOf(opt("--a-env", "")) };
const b = { main: progOf(opt("--b", MAIN)), env: envOf(opt("--b-env", "")) };
/** A bad option ends the run at once with exit code 2, naming it. */
const refuse = (why: string): never => {
  console.error(why);
  process.exit(2);
};
const count = (name: string, d: string): number => {
  const v = opt(name, d);
  return /^[1-9][0-9]{0,6}$/.test(v)
    ? Number(v)
    : refuse(`${name} must be a positive whole number, not ${JSON.stringify(v)}`);
};
const rounds = count("--rounds", "10");
const role = opt("--role", "");
if (role !== "" && role !== "leader" && role !== "follower") {
  refuse(`--role must be leader or follower, not ${JSON.stringify(role)}`);
}
const windowMs = count("--window", "2500");
const clients = count("--clients", "64");
const w: Workload = {
  name: "write 256 B",
  clients,
  writes: 1,
  valueBytes: 256,
  stale: false,
};

const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)] ?? Number.NaN;

const ca = await Raftkv.create(3, a.env, a.main);
const cb = await Raftkv.create(3, b.env, b.main);
try {
  await drive(ca, w, 0, 1500);
  await drive(cb, w, 0, 1500);
  const opsA: number[] = [];
  const opsB: number[] = [];
  const ratios: number[] = [];
  const p50s = { a: [] as number[], b: [] as number[], ratios: [] as number[] };
  // The member the window's first client goes to: member 0, or the leader (or the one after it) now.
  const firstOf = async (c: Raftkv) =>
    role === "" ? 0 : ((await c.leader()) + (role === "follower" ? 1 : 0)) % c.ports.length;
  for (let r = 0; r < rounds; r++) {
    // Who goes first alternates too.
    const order = r % 2 === 0 ? [ca, cb] : [cb, ca];
    const got = new Map<Raftkv, number>();
    const p50 = new Map<Raftkv, number>();
    for (const c of order) {
      const res = await drive(c, w, 400, windowMs, await firstOf(c));
      if (res.errors > 0) console.log(`round ${r + 1}: ${res.errors} errors on ${c === ca ? "A" : "B"}`);
      got.set(c, res.opsPerSec);
      p50.set(c, res.p50);
    }
    p50s.a.push(p50.get(ca) ?? 0);
    p50s.b.push(p50.get(cb) ?? 0);
    p50s.ratios.push((p50.get(cb) ?? 0) / (p50.get(ca) ?? 1));
    const [x, y] = [got.get(ca) ?? 0, got.get(cb) ?? 0];
    opsA.push(x);
    opsB.push(y);
    ratios.push(y / x);
    console.log(`round ${r + 1}: A ${Math.round(x)}/s, B ${Math.round(y)}/s, B/A ${(y / x).toFixed(3)}`);
  }
  console.log(`A ${a.main} ${JSON.stringify(a.env)}\nB ${b.main} ${JSON.stringify(b.env)}`);
  console.log(
    `${w.name} x${w.clients}: A median ${Math.round(median(opsA))}/s, B median ${Math.round(median(opsB))}/s, ` +
      `B/A median ${median(ratios).toFixed(3)} (${ratios.filter((r) => r > 1).length} of ${rounds} rounds above 1)`,
  );
  console.log(
    `${w.name} x${w.clients}${role ? ` at the ${role}` : ""}: p50 A ${median(p50s.a).toFixed(3)} ms, B ${median(p50s.b).toFixed(3)} ms, ` +
      `B/A median ${median(p50s.ratios).toFixed(3)} (${p50s.ratios.filter((r) => r < 1).length} of ${rounds} rounds below 1)`,
  );
} finally {
  await ca.stop();
  await cb.stop();
}
process.exit(0);
