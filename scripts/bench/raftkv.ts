/** A 3-node raftkv cluster on loopback, as a system under test. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN } from "./options.ts";
import type { System } from "./system.ts";
import { benchNodeEnv, ctlAgent, freePort, http, type Proc, rssOf, startProc, stopProc, waitFor } from "./util.ts";

/** Three raftkv nodes from MAIN (or another program), with data in a temp dir; started by create(). */
export class Raftkv implements System {
  name = "raftkv";
  ports: number[] = [];
  raftPorts: number[] = [];
  ids: string[] = [];
  procs: Array<Proc | undefined> = [];
  dir = mkdtempSync(join(tmpdir(), "raftkv-bench-"));
  extraEnv: Record<string, string>;
  /** The node program (a checkout's node/src/main.ts). */
  main: string;

  constructor(extraEnv: Record<string, string> = {}, main = MAIN) {
    this.extraEnv = extraEnv;
    this.main = main;
  }

  static async create(n: number, extraEnv: Record<string, string> = {}, main = MAIN): Promise<Raftkv> {
    const s = new Raftkv(extraEnv, main);
    for (let i = 0; i < n; i++) await s.addSlot();
    for (let i = 0; i < n; i++) s.start(i, n);
    try {
      await s.leader();
    } catch (e) {
      // Say why: what each node reports, and the end of its output.
      const sts = await Promise.all(s.ids.map((_, i) => s.status(i)));
      const why = s.ids.map(
        (id, i) =>
          `${id}: ${JSON.stringify(sts[i] ?? null).slice(0, 600)}\n${(s.procs[i]?.out ?? []).join("").slice(-3000)}`,
      );
      await s.stop();
      throw new Error(`${(e as Error).message}\n${why.join("\n")}`);
    }
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
    const args = [...(process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []), this.main];
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
