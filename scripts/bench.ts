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
 *
 * This file runs the cells and prints the report; the parts are in scripts/bench/: the systems
 * (raftkv.ts, etcd.ts), the load generator (load.ts), the machine's limits (machine.ts), scale and
 * fail-over (scale.ts), options and helpers.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd } from "./bench/etcd.ts";
import { drive, preload, type RunResult, readBack, readBackStats, type Workload } from "./bench/load.ts";
import { echoServer, fsyncLatency, loopbackRtt } from "./bench/machine.ts";
import {
  CLIENTS,
  FAILOVERS,
  NO_ETCD,
  ONLY,
  QUICK,
  REPEATS,
  SCALE,
  SCALE_ONLY,
  WARMUP_MS,
  WINDOW_MS,
} from "./bench/options.ts";
import { Raftkv } from "./bench/raftkv.ts";
import { failover, scale } from "./bench/scale.ts";
import type { System } from "./bench/system.ts";
import { ctlAgent, log, median } from "./bench/util.ts";

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
  // With fewer clients than members, who leads matters (a follower forwards: one hop more). So a one-client
  // cell goes to the leader in repeats 0, 3, 6, … and to each follower in turn in the others, the same
  // roles in the same order for both systems.
  const roleOf = (r: number, members: number) => (r % members === 0 ? "leader" : "follower");
  let fewClientWrites = false;
  for (const w of workloads) {
    const per = new Map<string, RunResult[]>(systems.map((s) => [s.name, []]));
    for (let r = 0; r < REPEATS; r++) {
      // Alternate which system goes first.
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      for (const s of order) {
        const few = w.clients < s.ports.length;
        const first = few ? ((await s.leader()) + r) % s.ports.length : 0;
        const role = few ? roleOf(r, s.ports.length) : undefined;
        const res = await drive(s, w, WARMUP_MS, WINDOW_MS, first);
        per.get(s.name)?.push(res);
        if (few && w.writes > 0) fewClientWrites = true;
        log(
          `${w.name} ×${w.clients} ${s.name}: ${fmtN(res.opsPerSec)}/s p50 ${fmtMs(res.p50)} ms (${res.errors} errors, ${res.cpuMsPerOp.toFixed(3)} CPU ms/op)${role ? `, the client's member is the ${role}` : ""}`,
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
  if (fewClientWrites) {
    out.push(
      `one-client writes went to the ${Array.from({ length: REPEATS }, (_, r) => roleOf(r, rk.ports.length)).join("/")} in the repeats, for each system (a follower forwards to its leader: one hop more)`,
    );
  }
  if (failoverTimes.length > 0) {
    out.push(
      `fail-over (kill -9 of the raftkv leader → first acknowledged write): median ${fmtN(median(failoverTimes))} ms over ${failoverTimes.length} (${failoverTimes.map((t) => fmtN(t)).join(", ")})`,
    );
  }
  out.push(
    `read-back checks passed: ${readBacks} keys read back from followers, no mismatch (${readBackStats.retries} reads retried after 503)`,
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
