/** Small helpers of the bench: percentiles, ports, HTTP, waiting, child processes and their CPU and memory. */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { freePort } from "../free-port.ts";

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A progress line on stderr. */
export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** The `p`th percentile of sorted values (NaN when empty). */
export function pct(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
/** The median (NaN when empty). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

/** The bench's ports come from the one picker, below the kernel's ephemeral range. */
export { freePort };

/** Extra settings for every raftkv node from BENCH_NODE_ENV ("K=V K=V"), to compare settings under one load. */
export function benchNodeEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of process.env.BENCH_NODE_ENV?.split(" ").filter(Boolean) ?? []) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** One HTTP request over a keep-alive agent: status and body text. */
export function http(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  body?: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(body);
    }
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout ${method} ${path}`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Polls `f` until it gives a value, for at most `ms`. */
export async function waitFor<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ""}`);
}

/** Base64 of a string (etcd's JSON gateway wants keys and values so). */
export const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Every child started, killed when the bench exits however it ends. */
export const allProcs = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of allProcs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** A child process with the tail of its output. */
export interface Proc {
  proc: ChildProcess;
  exit: Promise<void>;
  out: string[];
}

/** Starts a child, killed when the bench exits. */
export function startProc(cmd: string, args: string[], env: Record<string, string>): Proc {
  const proc = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const out: string[] = [];
  const keep = (b: Buffer) => {
    if (process.env.BENCH_LOG_DIR) appendFileSync(`${process.env.BENCH_LOG_DIR}/${env.NODE_ID ?? "x"}.log`, b);
    out.push(b.toString("utf8"));
    if (out.length > 200) out.shift();
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exit = new Promise<void>((r) => proc.once("exit", () => r()));
  allProcs.add(proc);
  return { proc, exit, out };
}

/** Stops a child with `signal` (SIGKILL after 10 s). */
export async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill(signal);
  const t = setTimeout(() => p.proc.kill("SIGKILL"), 10_000);
  await p.exit;
  clearTimeout(t);
}

/** The keep-alive agent of control requests (status, leader, read-backs). */
export const ctlAgent = new Agent({ keepAlive: true, maxSockets: 4 });

/** CPU seconds (user + system) a process has used so far. */
export function cpuOf(pid: number): number {
  try {
    const f = execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" });
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}

/** Resident memory of a process in bytes (0 when gone). */
export function rssOf(pid: number): number {
  try {
    const s = execFileSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" });
    return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
