/**
 * Real raftkv-node processes on 127.0.0.1 for cluster tests: free ports,
 * temporary state directories, and cleanup that kills every child even when
 * a test fails. Timing is sped up (TICK_MS=50) so elections take ~1 s.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { freePort } from "../../scripts/free-port.ts";

const root = join(import.meta.dirname, "..", "..");
const MAIN = join(root, "node", "src", "main.ts");

/** Free ports for tests come from one picker, below the kernel's ephemeral range. */
export { freePort };

/** One node of a test cluster. */
export interface TestNode {
  id: string;
  httpPort: number;
  raftPort: number;
  dir: string;
  proc: ChildProcess | undefined;
  /** Every log line this node printed, across restarts. */
  lines: string[];
  /** Exit code and signal of the last run. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
}

/** Settings of a test cluster. */
export interface ClusterOptions {
  size: number;
  secret?: string;
  env?: Record<string, string>;
}

/** A cluster of real processes. */
export class TestCluster {
  readonly nodes: TestNode[] = [];
  readonly dir: string;
  readonly secret: string | undefined;
  readonly #env: Record<string, string>;

  private constructor(dir: string, o: ClusterOptions) {
    this.dir = dir;
    this.secret = o.secret;
    this.#env = o.env ?? {};
  }

  /** Allocates ports and directories and registers cleanup on `t`; starts nothing. */
  static async create(t: TestContext, o: ClusterOptions): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), "raftkv-cluster-"));
    const c = new TestCluster(dir, o);
    for (let i = 0; i < o.size; i++) {
      const id = `node${i + 1}`;
      c.nodes.push({
        id,
        httpPort: await freePort(),
        raftPort: await freePort(),
        dir: join(dir, id),
        proc: undefined,
        lines: [],
        exit: undefined,
      });
    }
    t.after(async () => {
      await Promise.all(c.nodes.map((_, i) => c.kill(i)));
      if ((t as unknown as { passed?: boolean }).passed) rmSync(dir, { recursive: true, force: true });
      else {
        // The nodes' logs live in memory: write them beside their data, where the message points.
        for (const n of c.nodes) writeFileSync(join(dir, `${n.id}.log`), `${n.lines.join("\n")}\n`);
        process.stderr.write(`cluster logs kept in ${dir} (<id>.log)\n`);
      }
    });
    return c;
  }

  /** PEERS for this cluster. */
  get peers(): string {
    return this.nodes.map((n) => `${n.id}@127.0.0.1:${n.raftPort}`).join(",");
  }

  /** Starts node `i` (its directory is kept across restarts). */
  start(i: number, extraEnv: Record<string, string> = {}): void {
    const n = this.nodes[i] as TestNode;
    if (n.proc) throw new Error(`${n.id} is already running`);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      NODE_ID: n.id,
      STATE_DIR: n.dir,
      HTTP_ADDR: "127.0.0.1",
      HTTP_PORT: String(n.httpPort),
      RAFT_ADDR: "127.0.0.1",
      RAFT_PORT: String(n.raftPort),
      RAFT_ADVERTISE_ADDR: "127.0.0.1",
      PEERS: this.peers,
      TICK_MS: "50",
      LOG_LEVEL: "info",
      ...(this.secret ? { RAFT_SECRET: this.secret } : {}),
      ...this.#env,
      ...extraEnv,
    };
    const proc = spawn(process.execPath, [MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
    n.proc = proc;
    const collect = (buf: Buffer) => {
      for (const line of buf.toString("utf8").split("\n")) if (line) n.lines.push(line);
    };
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    n.exit = new Promise((resolve) =>
      proc.on("exit", (code, signal) => {
        if (n.proc === proc) n.proc = undefined;
        resolve({ code, signal });
      }),
    );
  }

  /** Starts every node. */
  startAll(): void {
    for (let i = 0; i < this.nodes.length; i++) this.start(i);
  }

  /** Sends `signal` to node `i` and waits for it to exit (SIGKILL after `ms`). */
  async kill(i: number, signal: NodeJS.Signals = "SIGKILL", ms = 15_000) {
    const n = this.nodes[i] as TestNode;
    const proc = n.proc;
    if (!proc || !n.exit) return undefined;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
    const r = await n.exit;
    clearTimeout(timer);
    return r;
  }

  /** Deletes node `i`'s state directory (it must be stopped). */
  wipe(i: number): void {
    rmSync((this.nodes[i] as TestNode).dir, { recursive: true, force: true });
  }

  /** GET/POST against node `i`'s client API; resolves with status and parsed body. */
  async http(i: number, method: string, path: string, body?: unknown, timeoutMs = 10_000) {
    const n = this.nodes[i] as TestNode;
    const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const res = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json as Record<string, unknown> };
  }

  /** /status of node `i`, or undefined when it does not answer. */
  async status(i: number): Promise<Status | undefined> {
    try {
      const r = await this.http(i, "GET", "/status", undefined, 2000);
      return r.status === 200 ? (r.body as unknown as Status) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Waits until the running nodes in `among` agree on one leader with `voters` voters; returns its index. */
  async waitLeader(among: number[] = this.running(), voters = this.nodes.length, ms = 20_000): Promise<number> {
    return waitFor(`a leader among ${among.map((i) => this.nodes[i]?.id)}`, ms, async () => {
      const sts = await Promise.all(among.map((i) => this.status(i)));
      const lead = sts[0]?.leader?.id;
      if (!lead || !sts.every((s) => s?.leader?.id === lead)) return undefined;
      const li = this.nodes.findIndex((n) => n.id === lead);
      const ls = await this.status(li);
      if (ls?.state !== "leader" || ls.members.filter((m) => m.role === "voter").length !== voters) return undefined;
      return li;
    });
  }

  /** Indices of nodes with a running process. */
  running(): number[] {
    return this.nodes.flatMap((n, i) => (n.proc ? [i] : []));
  }

  /** Log lines of node `i` (from line `from` on) parsed as JSON objects. */
  logs(i: number, from = 0): Array<Record<string, unknown>> {
    return (this.nodes[i] as TestNode).lines.slice(from).flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

/** The subset of /status the tests read. */
export interface Status {
  id: string;
  /** This node's own storage incarnation. */
  incarnation: string;
  state: string;
  term: number;
  leader: { id: string; httpUrl: string } | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: Array<{ id: string; role: string; incarnation: string }>;
}

/** Polls `f` every 50 ms until it returns a value other than undefined; throws after `ms`. */
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
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}
