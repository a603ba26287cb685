/**
 * `npm run bench`: raftkv against etcd on this machine, with one load generator.
 *
 * Starts a 3-node raftkv cluster and a 3-member etcd cluster (etcd 3.4+, default settings, JSON gateway)
 * on 127.0.0.1 with data in temp dirs, measures the machine's limits (fsync, loopback round trip, a plain
 * Node HTTP echo server under the same client), then drives both systems alternately with the same
 * closed-loop keep-alive client, requests spread over all members, and prints one table. After every
 * write run a sample of the keys written is read back from a follower; any mismatch fails the run (exit 1).
 *
 *   npm run bench                     every workload, 3 repeats of a 3 s window after 1 s of warm-up (~6 min)
 *   npm run bench -- --quick          tiny windows, to prove the bench works (CI; ~30 s; no timing verdicts)
 *   npm run bench -- --scale          also: load 1,000,000 keys, snapshot, a new member catching up, RSS (+~3 min)
 *   npm run bench -- --scale-only     only that
 *   BENCH_LOG_DIR=/tmp/x BENCH_LOG_LEVEL=info npm run bench ...   keep every raftkv node's log in /tmp/x/<id>.log
 *   BENCH_NODE_ENV="SNAPSHOT_THRESHOLD=100000" npm run bench ...  extra settings for every raftkv node
 *   npm run bench -- --only write     only workloads whose name contains "write" (--clients 1,64: only at those client counts)
 *   npm run bench -- --failover 5     fail-over repeats (kill -9 of the leader → first acknowledged write)
 *   npm run bench -- --no-etcd        raftkv alone
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, createServer as createNetServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
/** The node program; BENCH_RAFTKV_MAIN runs another checkout's (to compare versions under one load generator). */
const MAIN = process.env.BENCH_RAFTKV_MAIN ?? join(root, "node", "src", "main.ts");

// ---- options -------------------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(n);
const opt = (n: string) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag("--quick");
const SCALE_ONLY = flag("--scale-only");
const SCALE = flag("--scale") || SCALE_ONLY;
const NO_ETCD = flag("--no-etcd");
const ONLY = opt("--only");
const CLIENTS = opt("--clients");
const WARMUP_MS = Number(opt("--warmup") ?? (QUICK ? 200 : 1000));
const WINDOW_MS = Number(opt("--window") ?? (QUICK ? 500 : 3000));
const REPEATS = Number(opt("--repeats") ?? (QUICK ? 1 : 3));
const FAILOVERS = Number(opt("--failover") ?? (QUICK ? 1 : 5));
const SCALE_KEYS = Number(opt("--scale-keys") ?? (QUICK ? 20_000 : 1_000_000));

// ---- small helpers -------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

function pct(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** Extra settings for every raftkv node from BENCH_NODE_ENV ("K=V K=V"), to compare settings under one load. */
function benchNodeEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of process.env.BENCH_NODE_ENV?.split(" ").filter(Boolean) ?? []) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** One HTTP request over a keep-alive agent: status and body text. */
function http(
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

async function waitFor<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
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

const b64 = (s: string) => Buffer.from(s).toString("base64");

// ---- the systems -----------------------------------------------------------------------------------------------

/** What the load generator needs from a system under test. */
interface System {
  name: string;
  ports: number[];
  /** Request for a write of `value` under `key`. */
  put(key: string, value: string): { method: string; path: string; body: string };
  /** Request for a read of `key`. */
  get(key: string, stale: boolean): { method: string; path: string; body?: string };
  /** The value in a read answer (undefined when absent). */
  value(body: string, key: string): string | undefined;
  /** Index of a member that does not lead. */
  follower(): Promise<number>;
  /** Index of the leader. */
  leader(): Promise<number>;
  /** Process ids of the members (for CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}

/** Every child started, killed when the bench exits however it ends. */
const allProcs = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of allProcs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

interface Proc {
  proc: ChildProcess;
  exit: Promise<void>;
  out: string[];
}

function startProc(cmd: string, args: string[], env: Record<string, string>): Proc {
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

async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill(signal);
  const t = setTimeout(() => p.proc.kill("SIGKILL"), 10_000);
  await p.exit;
  clearTimeout(t);
}

const ctlAgent = new Agent({ keepAlive: true, maxSockets: 4 });

class Raftkv implements System {
  name = "raftkv";
  ports: number[] = [];
  raftPorts: number[] = [];
  ids: string[] = [];
  procs: Array<Proc | undefined> = [];
  dir = mkdtempSync(join(tmpdir(), "raftkv-bench-"));
  extraEnv: Record<string, string>;

  constructor(extraEnv: Record<string, string> = {}) {
    this.extraEnv = extraEnv;
  }

  static async create(n: number, extraEnv: Record<string, string> = {}): Promise<Raftkv> {
    const s = new Raftkv(extraEnv);
    for (let i = 0; i < n; i++) await s.addSlot();
    for (let i = 0; i < n; i++) s.start(i, n);
    await s.leader();
    return s;
  }

  async addSlot(): Promise<number> {
    this.ids.push(`node${this.ids.length + 1}`);
    this.ports.push(await freePort());
    this.raftPorts.push(await freePort());
    this.procs.push(undefined);
    return this.ids.length - 1;
  }

  peers(n: number): string {
    return this.ids
      .slice(0, n)
      .map((id, i) => `${id}@127.0.0.1:${this.raftPorts[i]}`)
      .join(",");
  }

  start(i: number, peersCount = this.ids.length): void {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      NODE_ID: this.ids[i] as string,
      STATE_DIR: join(this.dir, this.ids[i] as string),
      HTTP_ADDR: "127.0.0.1",
      HTTP_PORT: String(this.ports[i]),
      RAFT_ADDR: "127.0.0.1",
      RAFT_PORT: String(this.raftPorts[i]),
      RAFT_ADVERTISE_ADDR: "127.0.0.1",
      PEERS: this.peers(peersCount),
      RAFT_SECRET: "bench-secret",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      MIN_FREE_BYTES: "0",
      ...benchNodeEnv(),
      ...this.extraEnv,
    };
    const args = [...(process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []), MAIN];
    this.procs[i] = startProc(process.execPath, args, env);
  }

  async status(i: number): Promise<Record<string, unknown> | undefined> {
    try {
      const r = await http(ctlAgent, this.ports[i] as number, "GET", "/status", undefined, 2000);
      return r.status === 200 ? (JSON.parse(r.body) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  running(): number[] {
    return this.procs.flatMap((p, i) => (p && p.proc.exitCode === null && p.proc.signalCode === null ? [i] : []));
  }

  async leader(ms = 30_000): Promise<number> {
    return waitFor("a raftkv leader", ms, async () => {
      const run = this.running();
      const sts = await Promise.all(run.map((i) => this.status(i)));
      const lead = (sts[0]?.leader as { id?: string } | null)?.id;
      if (!lead || !sts.every((s) => (s?.leader as { id?: string } | null)?.id === lead)) return undefined;
      const li = this.ids.indexOf(lead);
      return (await this.status(li))?.state === "leader" ? li : undefined;
    });
  }

  async follower(): Promise<number> {
    const l = await this.leader();
    return this.running().find((i) => i !== l) as number;
  }

  put(key: string, value: string) {
    return { method: "POST", path: "/key", body: JSON.stringify({ [key]: value }) };
  }
  get(key: string, stale: boolean) {
    return { method: "GET", path: `/key/${encodeURIComponent(key)}${stale ? "?consistency=stale" : ""}` };
  }
  value(body: string, key: string): string | undefined {
    const v = (JSON.parse(body) as Record<string, unknown>)[key];
    return typeof v === "string" ? v : undefined;
  }

  pids(): number[] {
    return this.running().map((i) => this.procs[i]?.proc.pid as number);
  }

  rss(i: number): number {
    const pid = this.procs[i]?.proc.pid;
    return pid ? rssOf(pid) : 0;
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProc(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuOf(pid: number): number {
  try {
    const f = execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" });
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    const s = execFileSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" });
    return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

class Etcd implements System {
  name = "etcd";
  ports: number[] = [];
  procs: Proc[] = [];
  dir = mkdtempSync(join(tmpdir(), "etcd-bench-"));

  static async create(n: number): Promise<Etcd> {
    const s = new Etcd();
    const peerPorts: number[] = [];
    for (let i = 0; i < n; i++) {
      s.ports.push(await freePort());
      peerPorts.push(await freePort());
    }
    const cluster = peerPorts.map((p, i) => `e${i + 1}=http://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < n; i++) {
      s.procs.push(
        startProc(
          "etcd",
          [
            "--name",
            `e${i + 1}`,
            "--data-dir",
            join(s.dir, `e${i + 1}`),
            "--listen-client-urls",
            `http://127.0.0.1:${s.ports[i]}`,
            "--advertise-client-urls",
            `http://127.0.0.1:${s.ports[i]}`,
            "--listen-peer-urls",
            `http://127.0.0.1:${peerPorts[i]}`,
            "--initial-advertise-peer-urls",
            `http://127.0.0.1:${peerPorts[i]}`,
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "bench",
          ],
          { PATH: process.env.PATH ?? "", ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch },
        ),
      );
    }
    await s.leader();
    return s;
  }

  async memberStatus(i: number): Promise<{ leader: string; member: string } | undefined> {
    try {
      const r = await http(ctlAgent, this.ports[i] as number, "POST", "/v3/maintenance/status", "{}", 2000);
      if (r.status !== 200) return undefined;
      const j = JSON.parse(r.body) as { leader?: string; header?: { member_id?: string } };
      return j.leader && j.leader !== "0" ? { leader: j.leader, member: j.header?.member_id ?? "" } : undefined;
    } catch {
      return undefined;
    }
  }

  async leader(): Promise<number> {
    return waitFor("an etcd leader", 30_000, async () => {
      const sts = await Promise.all(this.ports.map((_, i) => this.memberStatus(i)));
      if (sts.some((s) => s === undefined)) return undefined;
      const i = sts.findIndex((s) => s?.member === s?.leader);
      return i >= 0 ? i : undefined;
    });
  }

  async follower(): Promise<number> {
    const l = await this.leader();
    return (l + 1) % this.ports.length;
  }

  put(key: string, value: string) {
    return { method: "POST", path: "/v3/kv/put", body: JSON.stringify({ key: b64(key), value: b64(value) }) };
  }
  get(key: string, stale: boolean) {
    return {
      method: "POST",
      path: "/v3/kv/range",
      body: stale ? JSON.stringify({ key: b64(key), serializable: true }) : JSON.stringify({ key: b64(key) }),
    };
  }
  pids(): number[] {
    return this.procs.map((p) => p.proc.pid as number);
  }

  value(body: string): string | undefined {
    const kvs = (JSON.parse(body) as { kvs?: Array<{ value?: string }> }).kvs;
    const v = kvs?.[0]?.value;
    return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProc(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the load generator ------------------------------------------------------------------------------------------

interface Workload {
  name: string;
  clients: number;
  /** Fraction of operations that are writes. */
  writes: number;
  valueBytes: number;
  stale: boolean;
}

interface RunResult {
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
const READ_KEYS = 1000;

function valueFor(key: string, bytes: number): string {
  const base = `${key}:`;
  return base.length >= bytes ? base.slice(0, bytes) : base + "x".repeat(bytes - base.length);
}

let runCounter = 0;

/** Closed loop: `clients` workers, each with its own member (round robin), until the window ends. */
async function drive(sys: System, w: Workload, warmupMs: number, windowMs: number): Promise<RunResult> {
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
      const m = c % sys.ports.length;
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
let readBackRetries = 0;

/** Reads a sample of `written` back from a follower (linearizable); throws on any mismatch. */
async function readBack(sys: System, written: Map<string, string>, sample = 50): Promise<number> {
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
      readBackRetries++;
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

async function preload(sys: System): Promise<void> {
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

// ---- the machine's limits ------------------------------------------------------------------------------------------

function fsyncLatency(dir: string, n = QUICK ? 50 : 500): { p50: number; p99: number } {
  const f = join(dir, "fsync-probe");
  const fd = openSync(f, "w");
  const buf = Buffer.alloc(4096, 1);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    writeSync(fd, buf);
    const t = performance.now();
    fsyncSync(fd);
    lat.push(performance.now() - t);
  }
  closeSync(fd);
  rmSync(f, { force: true });
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** Round trip of one byte over a loopback TCP connection to a child process (an echo server). */
async function loopbackRtt(n = QUICK ? 200 : 2000): Promise<number> {
  const port = await freePort();
  const echo = startProc(
    process.execPath,
    [
      "-e",
      `require("net").createServer((s)=>{s.setNoDelay(true);s.on("data",(d)=>s.write(d))}).listen(${port},"127.0.0.1",()=>console.log("up"))`,
    ],
    { PATH: process.env.PATH ?? "" },
  );
  await waitFor("echo server", 5000, async () => (echo.out.join("").includes("up") ? true : undefined));
  const sock = connect(port, "127.0.0.1");
  sock.setNoDelay(true);
  await new Promise((r) => sock.once("connect", r));
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      sock.once("data", () => r());
      sock.write("x");
    });
    lat.push(performance.now() - t);
  }
  sock.destroy();
  await stopProc(echo);
  lat.sort((a, b) => a - b);
  return pct(lat, 50);
}

/** A plain Node HTTP server (one process) that answers every request with a small JSON body. */
async function echoServer(): Promise<{ sys: System; stop: () => Promise<void> }> {
  const port = await freePort();
  const p = startProc(
    process.execPath,
    [
      "-e",
      `require("http").createServer((q,s)=>{q.resume();q.on("end",()=>{s.setHeader("content-type","application/json");s.end('{"index":1}')})}).listen(${port},"127.0.0.1",()=>console.log("up"))`,
    ],
    { PATH: process.env.PATH ?? "" },
  );
  await waitFor("http echo server", 5000, async () => (p.out.join("").includes("up") ? true : undefined));
  const sys: System = {
    name: "node-http-echo",
    ports: [port],
    put: (key, value) => ({ method: "POST", path: "/key", body: JSON.stringify({ [key]: value }) }),
    get: (key) => ({ method: "GET", path: `/key/${key}` }),
    value: () => undefined,
    follower: async () => 0,
    leader: async () => 0,
    pids: () => [p.proc.pid as number],
    stop: async () => stopProc(p),
  };
  return { sys, stop: () => stopProc(p) };
}

// ---- scale and fail-over (raftkv) --------------------------------------------------------------------------------------

async function scale(): Promise<string[]> {
  const lines: string[] = [];
  const s = await Raftkv.create(3, { SNAPSHOT_THRESHOLD: "8192" });
  try {
    const leader = await s.leader();
    const perReq = 100;
    const clients = 32;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const port = s.ports[leader] as number;
    let next = 0;
    let retries = 0;
    let slowest = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (;;) {
          const from = next;
          next += perReq;
          if (from >= SCALE_KEYS) return;
          const kv: Record<string, string> = {};
          for (let k = from; k < Math.min(SCALE_KEYS, from + perReq); k++)
            kv[`scale/${k}`] = valueFor(`scale/${k}`, 100);
          // Sets are idempotent: a write whose outcome is unknown (503) is sent again.
          for (let attempt = 0; ; attempt++) {
            const w0 = performance.now();
            const r = await http(agent, port, "POST", "/key", JSON.stringify(kv), 60_000);
            slowest = Math.max(slowest, performance.now() - w0);
            if (r.status === 200) break;
            if (r.status !== 503 || attempt >= 20) throw new Error(`scale load: HTTP ${r.status} ${r.body}`);
            retries++;
            await sleep(100);
          }
        }
      }),
    );
    agent.destroy();
    const loadS = (performance.now() - t0) / 1000;
    lines.push(
      `load ${SCALE_KEYS.toLocaleString("en")} keys (100-byte values, ${perReq} keys per write, ${clients} clients): ${loadS.toFixed(1)} s, ${Math.round(SCALE_KEYS / loadS).toLocaleString("en")} keys/s; slowest write ${(slowest / 1000).toFixed(1)} s, ${retries} writes retried after 503`,
    );
    // Snapshots taken during the load (SNAPSHOT_THRESHOLD entries and the log-size ratio, see README).
    const metricsOf = async (i: number) => (await http(ctlAgent, s.ports[i] as number, "GET", "/metrics")).body;
    const snapLine = (txt: string) => {
      const sum = Number(/^raftkv_snapshot_seconds_sum\{kind="create"\} (\S+)/m.exec(txt)?.[1] ?? 0);
      const count = Number(/^raftkv_snapshot_seconds_count\{kind="create"\} (\S+)/m.exec(txt)?.[1] ?? 0);
      return { sum, count };
    };
    const m = snapLine(await metricsOf(leader));
    const st = await s.status(leader);
    lines.push(
      `snapshots on the leader: ${m.count}, mean ${((m.sum / Math.max(1, m.count)) * 1000).toFixed(0)} ms each; last at index ${st?.snapshotIndex} of ${st?.commitIndex}`,
    );
    const dirSize = (d: string) => Number(execFileSync("du", ["-sb", d], { encoding: "utf8" }).split("\t")[0]);
    for (const i of s.running())
      lines.push(
        `${s.ids[i]}: RSS ${(s.rss(i) / 2 ** 20).toFixed(0)} MiB, STATE_DIR ${(dirSize(join(s.dir, s.ids[i] as string)) / 2 ** 20).toFixed(0)} MiB`,
      );
    // A new member catches up from the snapshot.
    const n = await s.addSlot();
    const target = Number(st?.commitIndex ?? 0);
    const t1 = performance.now();
    // The old members keep their PEERS; the new one lists everyone and asks the leader to add it.
    s.start(n, s.ids.length);
    await waitFor("the new member to catch up", 600_000, async () => {
      const ns = await s.status(n);
      return Number(ns?.appliedIndex ?? 0) >= target ? true : undefined;
    });
    const catchS = (performance.now() - t1) / 1000;
    const snapBytes = dirSize(join(s.dir, s.ids[n] as string));
    lines.push(
      `new member ${s.ids[n]} started, added and caught up to index ${target}: ${catchS.toFixed(1)} s (its STATE_DIR ${(snapBytes / 2 ** 20).toFixed(0)} MiB, RSS ${(s.rss(n) / 2 ** 20).toFixed(0)} MiB)`,
    );
    const mm = await metricsOf(n);
    const rs = Number(/^raftkv_snapshot_seconds_sum\{kind="restore"\} (\S+)/m.exec(mm)?.[1] ?? 0);
    lines.push(`snapshot restore on the new member: ${(rs * 1000).toFixed(0)} ms`);
  } finally {
    await s.stop();
  }
  return lines;
}

async function failover(sys: Raftkv, repeats: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const leader = await sys.leader();
    const others = sys.running().filter((i) => i !== leader);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // Warm connections to the survivors.
    for (const i of others) await http(agent, sys.ports[i] as number, "GET", "/livez");
    const t0 = performance.now();
    sys.procs[leader]?.proc.kill("SIGKILL");
    let k = 0;
    for (;;) {
      const i = others[k++ % others.length] as number;
      try {
        const req = sys.put(`failover/${r}`, "v");
        const res = await http(agent, sys.ports[i] as number, req.method, req.path, req.body, 1000);
        if (res.status === 200) break;
        await sleep(5);
      } catch {
        await sleep(5);
      }
      if (performance.now() - t0 > 30_000) throw new Error("no write acknowledged within 30 s of killing the leader");
    }
    times.push(performance.now() - t0);
    agent.destroy();
    await sys.procs[leader]?.exit;
    sys.start(leader);
    await waitFor("the old leader to rejoin", 30_000, async () => {
      const st = await sys.status(leader);
      return st?.leader && Number(st.appliedIndex) >= Number(st.commitIndex) ? true : undefined;
    });
  }
  return times;
}

// ---- main ----------------------------------------------------------------------------------------------------------------

const WORKLOADS: Workload[] = [
  { name: "write 256 B", clients: 1, writes: 1, valueBytes: 256, stale: false },
  { name: "write 256 B", clients: 16, writes: 1, valueBytes: 256, stale: false },
  { name: "write 256 B", clients: 64, writes: 1, valueBytes: 256, stale: false },
  { name: "write 256 B", clients: 256, writes: 1, valueBytes: 256, stale: false },
  { name: "read linearizable", clients: 1, writes: 0, valueBytes: 256, stale: false },
  { name: "read linearizable", clients: 64, writes: 0, valueBytes: 256, stale: false },
  { name: "read stale", clients: 64, writes: 0, valueBytes: 256, stale: true },
  { name: "mix 90% read 10% write", clients: 64, writes: 0.1, valueBytes: 256, stale: false },
  { name: "write 4 KiB", clients: 64, writes: 1, valueBytes: 4096, stale: false },
];

const fmtMs = (x: number) => (Number.isNaN(x) ? "-" : x < 10 ? x.toFixed(2) : x.toFixed(1));
const fmtN = (x: number) => (Number.isNaN(x) ? "-" : Math.round(x).toLocaleString("en"));

function row(cells: string[], widths: number[]): string {
  return `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(" | ")} |`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const workloads = WORKLOADS.filter(
    (w) =>
      !SCALE_ONLY &&
      (ONLY === undefined || w.name.includes(ONLY)) &&
      (CLIENTS === undefined || CLIENTS.split(",").includes(String(w.clients))),
  );
  let etcdOk = !NO_ETCD;
  if (etcdOk) {
    try {
      execFileSync("etcd", ["--version"], { stdio: "ignore" });
    } catch {
      log("etcd is not installed: trying apt-get install etcd-server");
      try {
        execFileSync(
          "sh",
          [
            "-c",
            "apt-get install -y -qq etcd-server >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq etcd-server)",
          ],
          { stdio: "ignore" },
        );
      } catch {
        log("could not install etcd; raftkv alone");
        etcdOk = false;
      }
    }
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}`;
  log(`machine: ${machine}`);
  const tmp = mkdtempSync(join(tmpdir(), "bench-probe-"));
  const fs = fsyncLatency(tmp);
  rmSync(tmp, { recursive: true, force: true });
  const rtt = await loopbackRtt();
  const echo = await echoServer();
  const echoRun = await drive(
    echo.sys,
    { name: "echo", clients: 64, writes: 1, valueBytes: 256, stale: false },
    WARMUP_MS,
    WINDOW_MS,
  );
  await echo.stop();

  log("starting raftkv and etcd");
  const rk = await Raftkv.create(3);
  const et = etcdOk ? await Etcd.create(3) : undefined;
  const systems: System[] = et ? [rk, et] : [rk];
  for (const s of systems) await preload(s);

  const results: Array<{ w: Workload; per: Map<string, RunResult[]> }> = [];
  let readBacks = 0;
  for (const w of workloads) {
    const per = new Map<string, RunResult[]>(systems.map((s) => [s.name, []]));
    for (let r = 0; r < REPEATS; r++) {
      // Alternate which system goes first.
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      for (const s of order) {
        const res = await drive(s, w, WARMUP_MS, WINDOW_MS);
        per.get(s.name)?.push(res);
        log(
          `${w.name} ×${w.clients} ${s.name}: ${fmtN(res.opsPerSec)}/s p50 ${fmtMs(res.p50)} ms (${res.errors} errors, ${res.cpuMsPerOp.toFixed(3)} CPU ms/op)`,
        );
        if (w.writes > 0 && res.written.size > 0) readBacks += await readBack(s, res.written);
      }
    }
    results.push({ w, per });
  }

  let failoverTimes: number[] = [];
  if (FAILOVERS > 0 && !SCALE_ONLY) failoverTimes = await failover(rk, FAILOVERS);
  await rk.stop();
  await et?.stop();

  // ---- the table ----
  const out: string[] = [];
  out.push(
    `raftkv bench, ${new Date().toISOString()}${QUICK ? " (--quick: tiny windows, figures not meaningful)" : ""}`,
  );
  out.push(`machine: ${machine}`);
  out.push(
    `each cell: ${WARMUP_MS} ms warm-up, ${WINDOW_MS} ms measured, ${REPEATS} repeat(s), median; clients spread over 3 members; raftkv and etcd alternated`,
  );
  out.push("");
  out.push(
    `machine limits: fsync p50 ${fmtMs(fs.p50)} ms (p99 ${fmtMs(fs.p99)}); loopback TCP round trip p50 ${fmtMs(rtt)} ms; plain Node HTTP echo server, 64 clients: ${fmtN(echoRun.opsPerSec)}/s p50 ${fmtMs(echoRun.p50)} ms, ${echoRun.cpuMsPerOp.toFixed(3)} CPU ms/op (server)`,
  );
  out.push("");
  const names = systems.map((s) => s.name);
  const header = ["workload", "clients"];
  for (const n of names) header.push(`${n} ops/s`, `${n} p50 ms`, `${n} p99 ms`, `${n} p99.9 ms`, `${n} CPU ms/op`);
  if (et) header.push("ops ratio", "p50 ratio");
  const rows: string[][] = [];
  for (const { w, per } of results) {
    const cells = [w.name, String(w.clients)];
    const meds: Record<string, { ops: number; p50: number }> = {};
    for (const n of names) {
      const rs = per.get(n) ?? [];
      const m = {
        ops: median(rs.map((x) => x.opsPerSec)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        p999: median(rs.map((x) => x.p999)),
        cpu: median(rs.map((x) => x.cpuMsPerOp)),
      };
      meds[n] = m;
      cells.push(fmtN(m.ops), fmtMs(m.p50), fmtMs(m.p99), fmtMs(m.p999), m.cpu.toFixed(3));
    }
    if (et) {
      const a = meds.raftkv as { ops: number; p50: number };
      const b = meds.etcd as { ops: number; p50: number };
      cells.push(`${(a.ops / b.ops).toFixed(2)}x`, `${(a.p50 / b.p50).toFixed(2)}x`);
    }
    rows.push(cells);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  out.push(row(header, widths));
  out.push(`|${widths.map((w, i) => (i < 2 ? `${"-".repeat(w + 1)} ` : ` ${"-".repeat(w)}:`)).join("|")}|`);
  for (const r of rows) out.push(row(r, widths));
  out.push("");
  out.push(
    "ops ratio = raftkv ops/s ÷ etcd ops/s (higher is better); p50 ratio = raftkv p50 ÷ etcd p50 (lower is better); CPU ms/op = CPU time of all three members per operation",
  );
  const errs = results.reduce((n, r) => n + [...r.per.values()].flat().reduce((k, x) => k + x.errors, 0), 0);
  out.push(`errors during measured runs: ${errs}`);
  if (failoverTimes.length > 0) {
    out.push(
      `fail-over (kill -9 of the raftkv leader → first acknowledged write): median ${fmtN(median(failoverTimes))} ms over ${failoverTimes.length} (${failoverTimes.map((t) => fmtN(t)).join(", ")})`,
    );
  }
  out.push(
    `read-back checks passed: ${readBacks} keys read back from followers, no mismatch (${readBackRetries} reads retried after 503)`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
  if (SCALE) {
    log("scale: loading keys");
    for (const l of await scale()) process.stdout.write(`scale: ${l}\n`);
  }
  process.stdout.write(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  ctlAgent.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
