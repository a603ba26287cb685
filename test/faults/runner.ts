/**
 * One fault run: build the network, start the cluster, run the clients while
 * the faults are injected one after another (each healed and recovered from
 * before the next), then check convergence, lost writes and linearizability.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FaultCluster } from "./cluster.ts";
import type { Json } from "./history.ts";
import {
  DISK_FULL_RESERVE,
  DISK_FULL_TMPFS_MIB,
  type FaultType,
  inject,
  type NemesisContext,
  readd,
  statuses,
  unsupported,
  waitHealthy,
} from "./nemesis.ts";
import { createNetwork } from "./net.ts";
import { prng } from "./random-history.ts";
import { RunRecord, sweepStale } from "./resources.ts";
import { type Cleanup, sleep } from "./sys.ts";
import { checkConvergence, checkLinearizable, lostWrites } from "./verify.ts";
import { closeAgents, exchange, type RecordedOp, Workload } from "./workload.ts";

/** Everything a run can be told. */
export interface RunOptions {
  nodes: number;
  ops: number;
  faults: FaultType[];
  seed: number;
  /** How many times the fault list is repeated (shuffled each time). */
  rounds: number;
  clients: number;
  keys: number;
  /** Client timeout per operation. */
  timeoutMs: number;
  /** Target operations per second; 0 = derived from the fault count. */
  rate: number;
  net: "auto" | "netns" | "loopback";
  /** RAFTKV_TEST_BUG for every node (planted bugs), or "". */
  bug: string;
  /** Range of how long each fault is held, in ms. */
  holdMs: [number, number];
  tickMs: number;
  electionTicks: number;
  snapshotThreshold: number;
  checkerTimeoutMs: number;
  /** Hard limit of the whole run. */
  maxSeconds: number;
  /** Keep the run directory (logs, history) even when the run passes. */
  keep: boolean;
  /** Delete the run directory even when the run fails (runs expected to fail, e.g. planted bugs). */
  discard: boolean;
  /** Skip fault types this machine cannot do instead of failing. */
  skipUnsupported: boolean;
}

/** Defaults for everything but the required options. */
export const DEFAULTS: Omit<RunOptions, "faults"> = {
  nodes: 3,
  ops: 1000,
  seed: 1,
  rounds: 1,
  clients: 12,
  keys: 6,
  timeoutMs: 5000,
  rate: 0,
  net: "auto",
  bug: "",
  holdMs: [1500, 3000],
  tickMs: 50,
  electionTicks: 10,
  snapshotThreshold: 300,
  checkerTimeoutMs: 120_000,
  maxSeconds: 600,
  keep: false,
  discard: false,
  skipUnsupported: true,
};

/** The numbers of a finished run. */
export interface RunSummary {
  ops: number;
  faults: number;
  violations: number;
  lost: number;
  /** True when the checker ran out of budget. */
  inconclusive: boolean;
  exitCode: number;
}

/** Runs once; prints progress to stdout and returns the summary (the caller prints the final line). */
export async function runFaults(o: RunOptions, cleanup: Cleanup): Promise<RunSummary> {
  const t0 = performance.now();
  const log = (msg: string) => {
    const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
    process.stdout.write(`[${s}s] ${msg}\n`);
  };
  const rand = prng(o.seed);
  const runId = randomBytes(3).toString("hex");
  await sweepStale(log);

  const rec = new RunRecord(runId);
  rec.save();
  const runDir = join(tmpdir(), `raftkv-faults-${runId}`);
  mkdirSync(runDir, { recursive: true });
  let passed = false;
  // Steps run last-registered first: processes, then mounts and namespaces, then the directory.
  cleanup.add("run directory", () => {
    if ((passed && !o.keep) || o.discard) rmSync(runDir, { recursive: true, force: true });
    else process.stdout.write(`faults: logs and history kept in ${runDir}\n`);
  });
  cleanup.add("resources", () => {
    for (const p of rec.release()) process.stderr.write(`cleanup: ${p}\n`);
  });

  const net = await createNetwork(o.net, o.nodes, rec, rand, log);
  log(`run ${runId}: mode ${net.describe()}`);
  const caps = {
    partitions: net.partitions !== "none",
    tmpfs: typeof process.getuid === "function" && process.getuid() === 0,
  };
  const wanted = o.faults.filter((t) => {
    const why = unsupported(t, caps);
    if (why) log(`fault ${t} skipped: ${why}`);
    return !why;
  });
  if (wanted.length < o.faults.length && !o.skipUnsupported) throw new Error("unsupported fault types requested");
  const schedule: FaultType[] = [];
  for (let r = 0; r < o.rounds; r++) schedule.push(...shuffle(rand, wanted));
  const tmpfsMiB = wanted.includes("disk-full") ? DISK_FULL_TMPFS_MIB : 0;

  const cluster = new FaultCluster(
    {
      size: o.nodes,
      runDir,
      secret: randomBytes(12).toString("hex"),
      env: {
        ...(o.bug ? { RAFTKV_TEST_BUG: o.bug } : {}),
        ...(tmpfsMiB > 0 ? { MIN_FREE_BYTES: DISK_FULL_RESERVE } : {}),
      },
      tmpfsMiB,
      tickMs: o.tickMs,
      electionTicks: o.electionTicks,
      snapshotThreshold: o.snapshotThreshold,
      slowDisk: wanted.includes("slow-disk"),
    },
    net,
    rec,
    log,
  );
  cleanup.add("node processes", () => {
    for (const n of cluster.nodes) n.expectExit = true;
    for (const n of cluster.nodes) n.proc?.kill("SIGKILL");
  });
  if (o.bug) log(`planted bug: RAFTKV_TEST_BUG=${o.bug} on every node`);
  log(`starting ${o.nodes} nodes (${cluster.nodes.map((n, i) => `${n.id}=${cluster.url(i)}`).join(", ")})`);
  for (let i = 0; i < o.nodes; i++) cluster.start(i);
  const startWhy = await waitHealthy(cluster, 60_000, 0);
  if (startWhy) throw new Error(`the cluster did not come up within 60 s: ${startWhy}`);
  log("cluster is up");

  const problems: string[] = [];
  const rate = o.rate > 0 ? o.rate : Math.max(5, o.ops / (schedule.length * 6 + 6));
  const wl = new Workload(
    {
      clients: o.clients,
      keys: o.keys,
      ops: o.ops,
      timeoutMs: o.timeoutMs,
      rate,
      rand,
      nodes: cluster.nodes.map((n, i) => ({ id: n.id, url: cluster.url(i) })),
    },
    t0,
  );
  const phases = schedule.length + 1;
  const quota = (k: number) => Math.ceil((o.ops * k) / phases);
  wl.allowance = quota(1);
  log(
    `${o.clients} clients, ${o.keys} keys, ${o.ops} ops at ~${rate.toFixed(0)} ops/s; faults: ${schedule.join(", ") || "none"}`,
  );
  const deadline = t0 + o.maxSeconds * 1000;
  const hardStop = setTimeout(
    () => {
      log(`run time limit of ${o.maxSeconds} s reached: stopping the clients`);
      problems.push(`the run hit its time limit of ${o.maxSeconds} s`);
      wl.stop();
    },
    Math.max(1, deadline - performance.now()),
  );
  const clients = wl.run();

  const ctx: NemesisContext = {
    cluster,
    rand,
    log,
    holdMs: () => o.holdMs[0] + rand() * (o.holdMs[1] - o.holdMs[0]),
  };
  let injected = 0;
  for (let k = 0; k < schedule.length && performance.now() < deadline; k++) {
    const t = schedule[k] as FaultType;
    await sleep(400 + rand() * 600);
    let fault: Awaited<ReturnType<typeof inject>>;
    try {
      fault = await inject(t, ctx);
    } catch (e) {
      problems.push(`fault ${t} could not be injected: ${(e as Error).message}`);
      log(`fault ${k + 1}/${schedule.length} ${t}: could not inject: ${(e as Error).message}`);
      continue;
    }
    injected++;
    log(`fault ${k + 1}/${schedule.length} ${t}: ${fault.what} (ops issued so far: ${wl.issued})`);
    await sleep(ctx.holdMs());
    await fault.heal();
    // A supervisor restarts crashed nodes, as Kubernetes would.
    for (const n of cluster.nodes) {
      if (!cluster.running(n.index)) {
        log(`  ${n.id} is not running after healing: restarting it`);
        cluster.start(n.index);
      }
    }
    const healedAt = performance.now();
    log(`  healed`);
    let why = await waitHealthy(cluster, 30_000);
    if (why?.startsWith("not voters")) {
      for (const n of cluster.nodes) await readd(ctx, n.index, 10_000);
      why = await waitHealthy(cluster, 15_000);
    }
    if (why) log(`  WARNING: not recovered 30 s after healing: ${why}`);
    else log(`  recovered in ${((performance.now() - healedAt) / 1000).toFixed(1)} s`);
    const bad = why ? undefined : await fault.verify?.();
    if (bad) {
      problems.push(`after ${t}: ${bad}`);
      log(`  PROBLEM: ${bad}`);
    }
    // Let this phase's share of operations run before the next fault (bounded).
    const until = performance.now() + 15_000;
    while (wl.issued < quota(k + 1) && performance.now() < until && performance.now() < deadline) await sleep(50);
    wl.allowance = quota(k + 2);
  }
  wl.allowance = o.ops;
  await clients;
  clearTimeout(hardStop);
  closeAgents();
  const counts = countStatuses(wl.history);
  log(`clients done: ${wl.history.length} ops (${counts})`);

  // Convergence: every node holds the same state once healed. The checks after the clients are
  // bounded (about 2 minutes at worst) so a broken cluster is reported rather than waited for.
  for (const n of cluster.nodes) {
    if (!cluster.running(n.index)) {
      log(`  ${n.id} is not running: restarting it`);
      cluster.start(n.index);
    }
  }
  let why = await waitHealthy(cluster, 45_000);
  if (why?.startsWith("not voters")) {
    const until = performance.now() + 20_000;
    for (const n of cluster.nodes) await readd(ctx, n.index, Math.max(0, until - performance.now()));
    why = await waitHealthy(cluster, 15_000);
  }
  if (why) problems.push(`the cluster did not recover after the last fault: ${why}`);
  const conv = await checkConvergence(cluster, wl.keys, why ? 10_000 : 30_000);
  if (!conv.ok) for (const p of conv.problems) problems.push(`divergence: ${p}`);
  else log(`converged: every node holds the same value for all ${wl.keys.length} keys`);

  // Final linearizable reads join the history, so the checker also judges the end state.
  const history: RecordedOp[] = wl.history;
  await finalReads(cluster, wl.keys, history, t0);

  const finals = new Map<string, Json>();
  for (const k of wl.keys) {
    const fromReads = [...history].reverse().find((h) => h.client === "final" && h.key === k && h.status === "ok");
    if (conv.values.has(k)) finals.set(k, conv.values.get(k) ?? null);
    else if (fromReads) finals.set(k, fromReads.output ?? null);
  }
  const lost = lostWrites(history, finals);
  for (const l of lost) {
    log(
      `LOST: key ${l.key} ends as ${JSON.stringify(l.final)}: ${l.why}: #${l.op.id} ${l.op.kind} ${JSON.stringify(l.op.value ?? null)} (client ${l.op.client}, sent to ${l.op.node})`,
    );
  }

  for (const n of cluster.nodes) {
    for (const cr of n.crashes) {
      const at = `${((cr.at - t0) / 1000).toFixed(1)}s`;
      problems.push(`${n.id} crashed at ${at} (exit code ${cr.code}, signal ${cr.signal}); see ${n.logFile}`);
    }
  }

  writeFileSync(join(runDir, "history.jsonl"), `${history.map((h) => JSON.stringify(h)).join("\n")}\n`);
  log(`checking linearizability of ${history.length} operations...`);
  const verdict = checkLinearizable(history, o.checkerTimeoutMs);
  log(
    `checker: ${verdict.ok === true ? "linearizable" : verdict.ok === null ? "INCONCLUSIVE" : "NOT linearizable"} (${verdict.ms.toFixed(0)} ms)`,
  );
  let violations = problems.length;
  if (verdict.ok === false) {
    violations++;
    process.stdout.write(`VIOLATION: the history is not linearizable:\n${verdict.text}\n`);
  } else if (verdict.ok === null) {
    process.stdout.write(`${verdict.text}\n`);
  }
  for (const p of problems) process.stdout.write(`VIOLATION: ${p}\n`);
  await cluster.stopAll();
  const lostCount = lost.length;
  passed = violations === 0 && lostCount === 0 && verdict.ok === true;
  log(`run took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return {
    ops: history.filter((h) => h.client !== "final").length,
    faults: injected,
    violations,
    lost: lostCount,
    inconclusive: verdict.ok === null,
    exitCode: violations > 0 || lostCount > 0 ? 1 : verdict.ok === null ? 3 : 0,
  };
}

/** One linearizable read of every key through the leader (retried), recorded as client "final". */
async function finalReads(c: FaultCluster, keys: string[], history: RecordedOp[], t0: number): Promise<void> {
  const end = performance.now() + 20_000;
  for (const key of keys) {
    for (let attempt = 0; attempt < 10 && performance.now() < end; attempt++) {
      const sts = await statuses(c);
      const li = Math.max(
        0,
        sts.findIndex((s) => s?.state === "leader"),
      );
      const op: RecordedOp = {
        id: history.length,
        client: "final",
        kind: "get",
        key,
        call: 0,
        node: c.nodes[li]?.id ?? "?",
      };
      op.call = performance.now() - t0;
      const ex = await exchange(c.url(li), "GET", `/key/${encodeURIComponent(key)}`, undefined, 3000);
      const ret = performance.now() - t0;
      if (ex.kind === "answer" && ex.status === 200) {
        op.ret = ret;
        op.status = "ok";
        op.output = ((JSON.parse(ex.body) as Record<string, Json>)[key] ?? null) as Json;
        history.push(op);
        break;
      }
      await sleep(300);
    }
  }
}

/** E.g. "1289 ok, 11 unknown (TIMEOUT 11), 200 fail (ECONNREFUSED 150, NO_LEADER 50)". */
export function countStatuses(h: readonly RecordedOp[]): string {
  const by = new Map<string, { n: number; codes: Map<string, number> }>();
  for (const o of h) {
    const s = o.status ?? "?";
    const e = by.get(s) ?? { n: 0, codes: new Map<string, number>() };
    e.n++;
    if (s !== "ok" && o.code) e.codes.set(o.code, (e.codes.get(o.code) ?? 0) + 1);
    by.set(s, e);
  }
  return [...by]
    .map(([k, v]) => {
      const codes = [...v.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
      return `${v.n} ${k}${codes.length > 0 ? ` (${codes.join(", ")})` : ""}`;
    })
    .join(", ");
}

function shuffle<T>(rand: () => number, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
