/**
 * The node processes of a fault run: start (inside each node's namespace),
 * SIGKILL, SIGSTOP/SIGCONT, wipe, optional tmpfs state directories for the
 * disk-full fault, and polling /status. Every node's output goes to
 * <runDir>/<id>.log (appended across restarts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import type { Network } from "./net.ts";
import type { RunRecord } from "./resources.ts";
import { runEnvEntry } from "./resources.ts";
import { cmd, pidAlive, sleep } from "./sys.ts";

const root = join(import.meta.dirname, "..", "..");
const MAIN = join(root, "node", "src", "main.ts");

/** The part of GET /status the runner reads. */
export interface Status {
  id: string;
  state: string;
  term: number;
  leader: { id: string; httpUrl: string } | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  members: Array<{ id: string; role: string; incarnation: string; match?: number }>;
}

/** One node of the run. */
export interface FaultNode {
  index: number;
  id: string;
  dir: string;
  /** STATE_DIR (a tmpfs mount point when tmpfs is on). */
  stateDir: string;
  logFile: string;
  /** Where the slow-disk fault writes the delay (ms) the node adds before each save. */
  delayFile: string;
  proc: ChildProcess | undefined;
  /** Set while SIGSTOPped. */
  paused: boolean;
  /** Set by the runner before it kills the node on purpose. */
  expectExit: boolean;
  /** Exits the runner did not cause: every one is a problem (a full disk included). */
  crashes: Array<{ code: number | null; signal: string | null; at: number }>;
  /** How many times the runner started it. */
  starts: number;
}

/** Settings of the cluster. */
export interface ClusterOptions {
  size: number;
  runDir: string;
  secret: string;
  /** Extra environment for every node (e.g. RAFTKV_TEST_BUG). */
  env: Record<string, string>;
  /** Mount a tmpfs of this many MiB on each STATE_DIR (for disk-full); 0 = plain directories. */
  tmpfsMiB: number;
  tickMs: number;
  electionTicks: number;
  snapshotThreshold: number;
  /** Give every node RAFTKV_TEST_FSYNC_DELAY_FILE (the slow-disk failpoint), at FaultNode.delayFile. */
  slowDisk: boolean;
}

/** The processes of one run. */
export class FaultCluster {
  readonly nodes: FaultNode[] = [];
  readonly net: Network;
  readonly #o: ClusterOptions;
  readonly #rec: RunRecord;
  readonly #log: (msg: string) => void;

  constructor(o: ClusterOptions, net: Network, rec: RunRecord, log: (msg: string) => void) {
    this.#o = o;
    this.net = net;
    this.#rec = rec;
    this.#log = log;
    for (let i = 0; i < o.size; i++) {
      const id = `node${i + 1}`;
      const dir = join(o.runDir, id);
      const stateDir = join(dir, "state");
      mkdirSync(stateDir, { recursive: true });
      if (o.tmpfsMiB > 0) {
        rec.note("mounts", stateDir);
        cmd("mount", ["-t", "tmpfs", "-o", `size=${o.tmpfsMiB}m,mode=0755`, "tmpfs", stateDir]);
      }
      const plan = net.spawnPlan(i, process.execPath, []);
      if (plan.uid !== undefined) {
        chownSync(dir, plan.uid, plan.gid ?? plan.uid);
        chownSync(stateDir, plan.uid, plan.gid ?? plan.uid);
      }
      this.nodes.push({
        index: i,
        id,
        dir,
        stateDir,
        logFile: join(o.runDir, `${id}.log`),
        delayFile: join(dir, "fsync-delay-ms"),
        proc: undefined,
        paused: false,
        expectExit: false,
        crashes: [],
        starts: 0,
      });
    }
  }

  get size(): number {
    return this.nodes.length;
  }

  /** PEERS of the initial cluster. */
  get peers(): string {
    return this.nodes.map((n) => `${n.id}@${this.net.addr(n.index)}:${this.net.raftPort(n.index)}`).join(",");
  }

  /** Node i's client base URL. */
  url(i: number): string {
    return `http://${this.net.addr(i)}:${this.net.httpPort(i)}`;
  }

  /** Node i's Raft address (host:port). */
  raftAddr(i: number): string {
    return `${this.net.addr(i)}:${this.net.raftPort(i)}`;
  }

  /** Index of the node with this id. */
  indexOf(id: string): number {
    return this.nodes.findIndex((n) => n.id === id);
  }

  /** Starts node i (no-op when running). */
  start(i: number): void {
    const n = this.nodes[i] as FaultNode;
    if (n.proc) return;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      NODE_ID: n.id,
      STATE_DIR: n.stateDir,
      KV_STORE: "leveldb",
      HTTP_ADDR: this.net.addr(i),
      HTTP_PORT: String(this.net.httpPort(i)),
      RAFT_ADDR: this.net.addr(i),
      RAFT_PORT: String(this.net.raftPort(i)),
      RAFT_ADVERTISE_ADDR: this.net.addr(i),
      PEERS: this.peers,
      RAFT_SECRET: this.#o.secret,
      TICK_MS: String(this.#o.tickMs),
      ELECTION_TICKS: String(this.#o.electionTicks),
      SNAPSHOT_THRESHOLD: String(this.#o.snapshotThreshold),
      // A snapshot every SNAPSHOT_THRESHOLD entries (no log-growth wait): faults meet snapshots often.
      SNAPSHOT_LOG_RATIO: "0",
      LOG_LEVEL: "info",
      ...this.#o.env,
      ...(this.#o.slowDisk ? { RAFTKV_TEST_FSYNC_DELAY_FILE: n.delayFile } : {}),
    };
    const [k, v] = runEnvEntry(this.#rec.data.runId).split("=") as [string, string];
    env[k] = v;
    const out = openSync(n.logFile, "a");
    const plan = this.net.spawnPlan(i, process.execPath, [MAIN]);
    const proc = spawn(plan.file, plan.args, {
      env,
      stdio: ["ignore", out, out],
      ...(plan.uid !== undefined ? { uid: plan.uid, gid: plan.gid ?? plan.uid } : {}),
    });
    closeSync(out);
    n.proc = proc;
    n.paused = false;
    n.expectExit = false;
    n.starts++;
    if (proc.pid) this.#rec.notePid(proc.pid);
    proc.on("exit", (code, signal) => {
      if (n.proc === proc) n.proc = undefined;
      if (!n.expectExit) {
        n.crashes.push({ code, signal, at: performance.now() });
        this.#log(`  ${n.id} exited on its own (code ${code}, signal ${signal}); last log lines:\n${this.tail(i, 6)}`);
      }
    });
  }

  /** Last `lines` lines of node i's log, indented. */
  tail(i: number, lines: number): string {
    try {
      const text = readFileSync((this.nodes[i] as FaultNode).logFile, "utf8")
        .trimEnd()
        .split("\n");
      return text
        .slice(-lines)
        .map((l) => `    ${l.slice(0, 400)}`)
        .join("\n");
    } catch {
      return "    (no log)";
    }
  }

  /** SIGKILLs node i and waits for it to be gone. */
  async kill(i: number): Promise<void> {
    const n = this.nodes[i] as FaultNode;
    const proc = n.proc;
    if (!proc) return;
    n.expectExit = true;
    const gone = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGKILL");
    await Promise.race([gone, sleep(10_000)]);
    n.paused = false;
  }

  /** SIGSTOPs node i. */
  pause(i: number): void {
    const n = this.nodes[i] as FaultNode;
    if (!n.proc || n.paused) return;
    n.proc.kill("SIGSTOP");
    n.paused = true;
  }

  /** SIGCONTs node i. */
  resume(i: number): void {
    const n = this.nodes[i] as FaultNode;
    if (!n.proc || !n.paused) return;
    n.proc.kill("SIGCONT");
    n.paused = false;
  }

  /** Deletes node i's state (it must be stopped); a tmpfs mount point itself stays. */
  wipe(i: number): void {
    const n = this.nodes[i] as FaultNode;
    if (n.proc) throw new Error(`${n.id} is running`);
    for (const f of readdirSync(n.stateDir)) rmSync(join(n.stateDir, f), { recursive: true, force: true });
  }

  /** True while node i's process runs. */
  running(i: number): boolean {
    const p = this.nodes[i]?.proc;
    return p?.pid !== undefined && pidAlive(p.pid);
  }

  /** Kills every node (cleanup). */
  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.kill(i)));
  }

  /** GET /status of node i, or undefined when it does not answer in time. */
  async status(i: number, timeoutMs = 1000): Promise<Status | undefined> {
    const r = await rawHttp(this.url(i), "GET", "/status", undefined, {}, timeoutMs).catch(() => undefined);
    if (r?.status !== 200) return undefined;
    try {
      return JSON.parse(r.body) as Status;
    } catch {
      return undefined;
    }
  }

  /** An admin call (Bearer secret) to node i; resolves with status and parsed body (or rejects on network errors). */
  async admin(i: number, method: string, path: string, body?: unknown, timeoutMs = 8000) {
    const r = await rawHttp(
      this.url(i),
      method,
      path,
      body === undefined ? undefined : JSON.stringify(body),
      { authorization: `Bearer ${this.#o.secret}`, "content-type": "application/json" },
      timeoutMs,
    );
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(r.body) as Record<string, unknown>;
    } catch {}
    return { status: r.status, body: json };
  }
}

/** One HTTP request without keep-alive or retries; rejects on network errors and after `timeoutMs`. */
export function rawHttp(
  base: string,
  method: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; body: string; headers: import("node:http").IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers });
        });
        res.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error("timeout")), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}
