/**
 * Every machine-level resource a fault run creates (network namespaces, the
 * root-namespace uplink, iptables chains, tmpfs mounts, node processes, the
 * claimed test subnet) is written down in /tmp/raftkv-faults/<run>.json
 * before it is created (in /tmp/raftkv-faults for root). Cleanup works from that record, so the same code
 * removes a finished run's resources and, at the next start (or with
 * `--sweep`), those of a run that was killed before it could clean up.
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cmd, pidAlive, pidHasEnv, pidStartTime, sleep } from "./sys.ts";

/** Where run records and subnet claims live (per user, so a non-root run never meets root's files). */
export const RECORD_DIR = join(
  tmpdir(),
  `raftkv-faults${process.getuid?.() === 0 ? "" : `-u${process.getuid?.() ?? ""}`}`,
);

/** The environment entry every node process of a run carries, so cleanup kills only our own. */
export function runEnvEntry(runId: string): string {
  return `RAFTKV_FAULTS_RUN=${runId}`;
}

/** What a run created; saved as JSON after every change. */
export interface RecordData {
  runId: string;
  pid: number;
  pidStart: string | undefined;
  netns: string[];
  links: string[];
  mounts: string[];
  /** Root-namespace iptables chains (loopback mode), each hooked into INPUT and OUTPUT. */
  chains: string[];
  /** Claimed third octet of 10.199.x.0/24 (netns mode). */
  subnet: number | undefined;
  nodePids: number[];
}

/** A run's resource record. */
export class RunRecord {
  readonly data: RecordData;

  constructor(runId: string) {
    this.data = {
      runId,
      pid: process.pid,
      pidStart: pidStartTime(process.pid),
      netns: [],
      links: [],
      mounts: [],
      chains: [],
      subnet: undefined,
      nodePids: [],
    };
  }

  get file(): string {
    return join(RECORD_DIR, `${this.data.runId}.json`);
  }

  /** Writes the record (call before creating the resource it lists). */
  save(): void {
    mkdirSync(RECORD_DIR, { recursive: true });
    writeFileSync(this.file, `${JSON.stringify(this.data, null, 1)}\n`);
  }

  /** Adds an item to one of the lists and saves. */
  note(list: "netns" | "links" | "mounts" | "chains", item: string): void {
    if (!this.data[list].includes(item)) this.data[list].push(item);
    this.save();
  }

  /** Records a node process. */
  notePid(pid: number): void {
    this.data.nodePids = this.data.nodePids.filter((p) => pidAlive(p));
    this.data.nodePids.push(pid);
    this.save();
  }

  /** Removes everything listed, then the record itself. Synchronous and best-effort. */
  release(): string[] {
    const problems = releaseRecord(this.data);
    rmSync(this.file, { force: true });
    return problems;
  }
}

/** Claims a free 10.199.x.0/24 for this run (mkdir is atomic); returns x. */
export function claimSubnet(rec: RunRecord, inUse: (octet: number) => boolean, rand: () => number): number {
  mkdirSync(RECORD_DIR, { recursive: true });
  const start = Math.floor(rand() * 250);
  for (let k = 0; k < 250; k++) {
    const octet = 2 + ((start + k) % 250);
    if (inUse(octet)) continue;
    const dir = join(RECORD_DIR, `subnet-${octet}`);
    try {
      mkdirSync(dir);
    } catch {
      continue; // another run holds it (stale claims are swept with their records)
    }
    writeFileSync(join(dir, "owner"), rec.data.runId);
    rec.data.subnet = octet;
    rec.save();
    return octet;
  }
  throw new Error("no free 10.199.x.0/24 subnet to claim");
}

function releaseRecord(d: RecordData): string[] {
  const problems: string[] = [];
  const attempt = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  const entry = runEnvEntry(d.runId);
  for (const pid of d.nodePids) {
    // Only processes that carry this run's marker: a recycled pid is left alone.
    if (pidAlive(pid) && pidHasEnv(pid, entry)) attempt(`kill ${pid}`, () => process.kill(pid, "SIGKILL"));
  }
  waitGone(d.nodePids.filter((p) => pidHasEnv(p, entry)));
  for (const m of d.mounts) {
    attempt(`umount ${m}`, () => {
      const r = cmd("umount", [m], false);
      if (!r.ok && !/not mounted|no mount point/i.test(r.err)) cmd("umount", ["-l", m]);
    });
  }
  for (const ns of d.netns) {
    attempt(`netns ${ns}`, () => {
      const r = cmd("ip", ["netns", "del", ns], false);
      if (!r.ok && !/No such file|not found|Cannot remove/i.test(r.err)) throw new Error(r.err.trim());
    });
  }
  for (const link of d.links) {
    attempt(`link ${link}`, () => {
      const r = cmd("ip", ["link", "del", link], false);
      if (!r.ok && !/Cannot find device|does not exist/i.test(r.err)) throw new Error(r.err.trim());
    });
  }
  for (const chain of d.chains) {
    attempt(`iptables chain ${chain}`, () => {
      for (const hook of ["INPUT", "OUTPUT"]) {
        while (cmd("iptables", ["-w", "-D", hook, "-j", chain], false).ok) {}
      }
      cmd("iptables", ["-w", "-F", chain], false);
      cmd("iptables", ["-w", "-X", chain], false);
    });
  }
  if (d.subnet !== undefined) {
    const dir = join(RECORD_DIR, `subnet-${d.subnet}`);
    attempt(`subnet claim ${d.subnet}`, () => {
      let owner = "";
      try {
        owner = readFileSync(join(dir, "owner"), "utf8");
      } catch {}
      if (owner === d.runId || owner === "") rmSync(dir, { recursive: true, force: true });
    });
  }
  return problems;
}

function waitGone(pids: number[]): void {
  const end = Date.now() + 5000;
  while (pids.some((p) => pidAlive(p)) && Date.now() < end) {
    // Busy-wait briefly: this also runs from an `exit` handler, where nothing asynchronous runs.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Releases the records of runs whose runner process is gone; returns what was swept. */
export async function sweepStale(log: (msg: string) => void): Promise<number> {
  let files: string[];
  try {
    files = readdirSync(RECORD_DIR).filter((f) => f.endsWith(".json"));
  } catch {
    return 0;
  }
  let swept = 0;
  for (const f of files) {
    const path = join(RECORD_DIR, f);
    let d: RecordData;
    try {
      d = JSON.parse(readFileSync(path, "utf8")) as RecordData;
    } catch {
      continue;
    }
    const alive = pidAlive(d.pid) && pidStartTime(d.pid) === d.pidStart;
    if (alive) continue;
    log(`sweeping resources of dead run ${d.runId} (runner pid ${d.pid})`);
    for (const p of releaseRecord(d)) log(`  ${p}`);
    rmSync(path, { force: true });
    swept++;
    await sleep(0);
  }
  // Subnet claims whose run record is gone (crash between claim and save).
  try {
    for (const name of readdirSync(RECORD_DIR).filter((n) => n.startsWith("subnet-"))) {
      let owner = "";
      try {
        owner = readFileSync(join(RECORD_DIR, name, "owner"), "utf8");
      } catch {}
      if (owner && !files.includes(`${owner}.json`)) rmSync(join(RECORD_DIR, name), { recursive: true, force: true });
    }
  } catch {}
  return swept;
}
