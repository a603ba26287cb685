/**
 * The faults of a run. Each one is injected, held while the clients keep
 * going, then healed; after healing the runner waits until the cluster has
 * recovered (every node running, one leader everybody follows, every node a
 * voter that caught up) before the next fault, so faults never add up beyond
 * what the cluster tolerates.
 */

import { rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fillDisk } from "../cluster/tmpfs.ts";
import type { FaultCluster, Status } from "./cluster.ts";
import { sleep } from "./sys.ts";
import { exchange } from "./workload.ts";

/** Every fault type the runner knows. */
export const FAULT_TYPES = [
  "kill",
  "kill-leader",
  "pause",
  "partition-leader",
  "partition-split",
  "partition-bridge",
  "restart-all",
  "wipe",
  "membership",
  "transfer",
  "slow-disk",
  "disk-full",
] as const;

/** The tmpfs of each STATE_DIR when disk-full runs, and the reserve (MIN_FREE_BYTES) its nodes keep. */
export const DISK_FULL_TMPFS_MIB = 48;
/** MIN_FREE_BYTES of the nodes when disk-full runs. */
export const DISK_FULL_RESERVE = "8Mi";
/** What the "reserve" variant leaves free: below the reserve, above zero. */
const DISK_FULL_LEAVE_BYTES = 3 * 1024 * 1024;

/** One fault type. */
export type FaultType = (typeof FAULT_TYPES)[number];

/** A fault in effect; `heal` undoes it; `verify` (after recovery) names a problem, if any. */
export interface Injected {
  what: string;
  heal: () => Promise<void>;
  verify?: () => Promise<string | undefined>;
}

/** What faults act on. */
export interface NemesisContext {
  cluster: FaultCluster;
  rand: () => number;
  log: (msg: string) => void;
  /** How long a fault is held, in ms (drawn per fault). */
  holdMs: () => number;
}

/** Why a fault type cannot run here, or undefined when it can. */
export function unsupported(t: FaultType, caps: { partitions: boolean; tmpfs: boolean }): string | undefined {
  if (t.startsWith("partition-") && !caps.partitions) return "partitions need network namespaces or iptables (root)";
  if (t === "disk-full" && !caps.tmpfs) return "needs root to mount a small tmpfs as STATE_DIR";
  return undefined;
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

function shuffle<T>(rand: () => number, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Statuses of every node (undefined for those that do not answer). */
export async function statuses(c: FaultCluster, timeoutMs = 1000): Promise<Array<Status | undefined>> {
  return Promise.all(c.nodes.map((_, i) => (c.running(i) ? c.status(i, timeoutMs) : Promise.resolve(undefined))));
}

/** The index of the node that leads in the highest term, or undefined. */
export async function leaderIndex(c: FaultCluster): Promise<number | undefined> {
  const sts = await statuses(c);
  let best: number | undefined;
  let term = -1;
  sts.forEach((s, i) => {
    if (s?.state === "leader" && s.term > term) {
      best = i;
      term = s.term;
    }
  });
  return best;
}

/** Waits (bounded) for a leader; returns its index or undefined. */
async function awaitLeader(c: FaultCluster, ms: number): Promise<number | undefined> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const l = await leaderIndex(c);
    if (l !== undefined) return l;
    await sleep(100);
  }
  return undefined;
}

/**
 * Why the cluster is not yet healthy, or undefined when it is: every node
 * runs, all follow one leader in one term, every node is a voter, and every
 * voter's match index is close to the leader's commit index.
 */
export async function unhealthy(c: FaultCluster, slack = 64): Promise<string | undefined> {
  const down = c.nodes.filter((n) => !c.running(n.index) || n.paused).map((n) => n.id);
  if (down.length > 0) return `not running: ${down.join(", ")}`;
  const sts = await statuses(c);
  const silent = sts.flatMap((s, i) => (s ? [] : [c.nodes[i]?.id]));
  if (silent.length > 0) return `no /status from ${silent.join(", ")}`;
  const leaders = sts.filter((s) => s?.state === "leader");
  if (leaders.length !== 1) return `${leaders.length} nodes claim to lead`;
  const L = leaders[0] as Status;
  const strays = sts.filter((s) => s?.leader?.id !== L.id || s.term !== L.term).map((s) => s?.id);
  if (strays.length > 0) return `${strays.join(", ")} do not follow ${L.id} in term ${L.term}`;
  const voters = new Set(L.members.filter((m) => m.role === "voter").map((m) => m.id));
  const missing = c.nodes.filter((n) => !voters.has(n.id)).map((n) => n.id);
  if (missing.length > 0) return `not voters: ${missing.join(", ")} (members: ${JSON.stringify(L.members)})`;
  const behind = L.members.filter((m) => (m.match ?? 0) + slack < L.commitIndex).map((m) => m.id);
  if (behind.length > 0) return `behind the leader's commit index ${L.commitIndex}: ${behind.join(", ")}`;
  return undefined;
}

/** Waits until healthy; returns undefined, or the last reason after `ms`. */
export async function waitHealthy(c: FaultCluster, ms: number, slack = 64): Promise<string | undefined> {
  const end = performance.now() + ms;
  let why: string | undefined = "not checked";
  while (performance.now() < end) {
    why = await unhealthy(c, slack);
    if (why === undefined) return undefined;
    await sleep(150);
  }
  return why;
}

/** Retries an admin call until it answers 200, a non-retryable error, or the deadline; returns the last answer. */
async function adminRetry(
  c: FaultCluster,
  method: string,
  path: string,
  body: unknown,
  ms: number,
  rand: () => number,
): Promise<{ status: number; body: Record<string, unknown>; tries: string[] } | undefined> {
  const end = performance.now() + ms;
  let last: { status: number; body: Record<string, unknown>; tries: string[] } | undefined;
  const tries: string[] = [];
  while (performance.now() < end) {
    const live = c.nodes.filter((n) => c.running(n.index) && !n.paused).map((n) => n.index);
    if (live.length === 0) return last;
    // Prefer the leader (fewer forwarding hops), fall back to anyone.
    const target = (await leaderIndex(c)) ?? pick(rand, live);
    try {
      last = { ...(await c.admin(target, method, path, body)), tries };
      tries.push(`${c.nodes[target]?.id}: ${last.status} ${String(last.body.code ?? "")}`);
      if (last.status === 200) return last;
      const code = String(last.body.code ?? "");
      if (last.status < 500 && code !== "CONFIG_CHANGE_PENDING" && code !== "NOT_LEADER") return last;
    } catch (e) {
      last = { status: 0, body: { error: (e as Error).message }, tries };
      tries.push(`${c.nodes[target]?.id}: ${(e as Error).message}`);
    }
    await sleep(200);
  }
  return last;
}

/** Re-adds node i as a learner and promotes it, via the admin API; true once it is a voter. */
export async function readd(ctx: NemesisContext, i: number, ms: number): Promise<boolean> {
  const { cluster: c, rand } = ctx;
  const n = c.nodes[i];
  if (!n) return false;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const l = await awaitLeader(c, 3000);
    const st = l === undefined ? undefined : await c.status(l);
    const m = st?.members.find((x) => x.id === n.id);
    if (m?.role === "voter") return true;
    if (!m) {
      const body = { id: n.id, raftAddr: c.raftAddr(i), httpUrl: c.url(i) };
      const r = await adminRetry(c, "POST", "/admin/members", body, 5000, rand);
      ctx.log(`  add ${n.id} as learner: ${r?.status} ${JSON.stringify(r?.body)}`);
    } else {
      const r = await adminRetry(c, "POST", `/admin/members/${n.id}/promote`, undefined, 5000, rand);
      ctx.log(`  promote ${n.id}: ${r?.status} ${JSON.stringify(r?.body)}`);
    }
    await sleep(200);
  }
  return false;
}

/** Injects one fault of type `t`. */
export async function inject(t: FaultType, ctx: NemesisContext): Promise<Injected> {
  const { cluster: c, rand } = ctx;
  const all = c.nodes.map((n) => n.index);
  const id = (i: number) => c.nodes[i]?.id ?? `#${i}`;
  const leader = async () => (await leaderIndex(c)) ?? pick(rand, all);
  switch (t) {
    case "kill":
    case "kill-leader": {
      const i = t === "kill" ? pick(rand, all) : await leader();
      await c.kill(i);
      return { what: `SIGKILL ${id(i)}`, heal: async () => c.start(i) };
    }
    case "pause": {
      const i = rand() < 0.5 ? await leader() : pick(rand, all);
      c.pause(i);
      const was = (await leaderIndex(c)) === i ? " (leader)" : "";
      return { what: `SIGSTOP ${id(i)}${was}`, heal: async () => c.resume(i) };
    }
    case "partition-leader": {
      const l = await leader();
      c.net.cut(all.filter((j) => j !== l).map((j) => [l, j]));
      return { what: `isolate leader ${id(l)}`, heal: async () => c.net.heal() };
    }
    case "partition-split": {
      const l = await leader();
      const rest = shuffle(
        rand,
        all.filter((j) => j !== l),
      );
      const minSize = Math.floor((all.length - 1) / 2);
      // Half the time the leader is in the minority.
      const order = rand() < 0.5 ? [l, ...rest] : [...rest, l];
      const minority = order.slice(0, minSize);
      const majority = order.slice(minSize);
      c.net.cut(minority.flatMap((a) => majority.map((b): [number, number] => [a, b])));
      return {
        what: `split {${minority.map(id)}} | {${majority.map(id)}}`,
        heal: async () => c.net.heal(),
      };
    }
    case "partition-bridge": {
      const l = await leader();
      const others = shuffle(
        rand,
        all.filter((j) => j !== l),
      );
      // The leader is on one side or is the bridge itself.
      const order = rand() < 0.5 ? [l, ...others] : [...others.slice(0, 1), l, ...others.slice(1)];
      const half = Math.floor((all.length - 1) / 2);
      const a = order.slice(0, half);
      const bridge = order[half] as number;
      const b = order.slice(half + 1);
      c.net.cut(a.flatMap((x) => b.map((y): [number, number] => [x, y])));
      return {
        what: `bridge {${a.map(id)}} - ${id(bridge)} - {${b.map(id)}}`,
        heal: async () => c.net.heal(),
      };
    }
    case "restart-all": {
      await Promise.all(all.map((i) => c.kill(i)));
      return { what: "SIGKILL every node", heal: async () => all.forEach((i) => void c.start(i)) };
    }
    case "wipe": {
      const i = rand() < 0.34 ? await leader() : pick(rand, all);
      const incarnation = async () => {
        const l = await leaderIndex(c);
        const st = l === undefined ? undefined : await c.status(l);
        return st?.members.find((m) => m.id === id(i) && m.role === "voter")?.incarnation;
      };
      const before = await incarnation();
      await c.kill(i);
      c.wipe(i);
      return {
        what: `SIGKILL ${id(i)} and delete its STATE_DIR (incarnation ${before})`,
        heal: async () => c.start(i),
        verify: async () => {
          // Healthy already means every node is a voter; the wiped one must be one under a new incarnation.
          const end = performance.now() + 20_000;
          let after = await incarnation();
          while ((after === undefined || after === before) && performance.now() < end) {
            if (process.env.FAULTS_DEBUG) {
              const sts = await statuses(c);
              ctx.log(
                `  debug: ${JSON.stringify(sts.map((x) => x && { id: x.id, st: x.state, t: x.term, m: x.members.map((m) => `${m.id}:${m.role}:${m.incarnation.slice(0, 4)}`) }))}`,
              );
            }
            await sleep(200);
            after = await incarnation();
          }
          ctx.log(`  ${id(i)} is a voter again under incarnation ${after}`);
          return after === undefined || after === before
            ? `${id(i)} did not rejoin under a new incarnation within 20 s (before ${before}, after ${after})`
            : undefined;
        },
      };
    }
    case "membership": {
      const l = await leader();
      const i = rand() < 0.25 ? l : pick(rand, all);
      const was = l === i ? " (the leader)" : "";
      const r = await adminRetry(c, "DELETE", `/admin/members/${id(i)}`, undefined, 8000, rand);
      ctx.log(`  remove ${id(i)}${was}: ${r?.status} ${JSON.stringify(r?.body)} after [${r?.tries.join("; ")}]`);
      return {
        what: `remove ${id(i)} via the admin API, then re-add and promote it`,
        heal: async () => {
          if (!(await readd(ctx, i, 20_000))) ctx.log(`  ${id(i)} is not a voter again yet`);
        },
      };
    }
    case "transfer": {
      const done: string[] = [];
      for (let k = 0; k < 2; k++) {
        const l = await leaderIndex(c);
        const target =
          rand() < 0.5 || l === undefined
            ? undefined
            : pick(
                rand,
                all.filter((j) => j !== l),
              );
        const body = target === undefined ? {} : { id: id(target) };
        const r = await adminRetry(c, "POST", "/admin/transfer-leader", body, 5000, rand);
        done.push(
          `${target === undefined ? "any" : id(target)} -> ${r?.status} ${String(r?.body.leader ?? r?.body.code)}`,
        );
        await sleep(300);
      }
      return { what: `transfer leadership twice (${done.join("; ")})`, heal: async () => {} };
    }
    case "disk-full": {
      // Three ways to run out of disk (the node has MIN_FREE_BYTES of reserve, see runner.ts):
      // - "reserve": free space drops below the reserve: writes refused (507), a leader hands over;
      // - "last-byte": filled to the last byte: a write may meet ENOSPC and suspend the node;
      // - "restart": SIGKILLed, filled to the last byte, started again: it starts suspended.
      // In every case the process must stay up (a crash is a problem) and recover once space returns.
      const i = rand() < 0.5 ? await leader() : pick(rand, all);
      const n = c.nodes[i];
      if (!n) throw new Error("no node");
      const wasLeader = (await leaderIndex(c)) === i;
      const r = rand();
      const how = r < 0.4 ? "reserve" : r < 0.8 ? "last-byte" : "restart";
      const ballast = join(n.stateDir, "ballast");
      if (how === "restart") await c.kill(i);
      const bytes = fillDisk(ballast, how === "reserve" ? DISK_FULL_LEAVE_BYTES : 0);
      if (how === "restart") c.start(i);
      const probes: string[] = [];
      const problems: string[] = [];
      const probe = async () => {
        const ex = await exchange(c.url(i), "POST", "/key", JSON.stringify({ diskprobe: probes.length }), 5000);
        let code = ex.kind === "error" ? ex.code : "";
        if (ex.kind === "answer") {
          try {
            code = String((JSON.parse(ex.body) as { code?: unknown }).code ?? "");
          } catch {
            code = "NOT_JSON";
          }
        }
        const line = ex.kind === "answer" ? `${ex.status}${code ? ` ${code}` : ""}` : `error ${code}`;
        probes.push(line);
        // Refusals and unknown outcomes are fine; a crash, a 500 or a refused connection is not.
        if (ex.kind === "error" || ex.status === 500) problems.push(`a write to ${id(i)} got ${line}`);
      };
      await sleep(how === "restart" ? 1500 : 400);
      await probe();
      return {
        what: `${how}: fill ${id(i)}${wasLeader ? " (the leader)" : ""}'s ${Math.round(statfsSync(n.stateDir).blocks / 256)} MiB tmpfs (ballast ${Math.round(bytes / 1024)} KiB${how === "reserve" ? ", below the reserve" : ", to the last byte"})`,
        heal: async () => {
          await probe();
          if (how === "reserve" && wasLeader) {
            // A low leader hands leadership to a voter with room (within a few election timeouts).
            const end = performance.now() + 10_000;
            let l = await leaderIndex(c);
            while ((l === i || l === undefined) && performance.now() < end) {
              await sleep(200);
              l = await leaderIndex(c);
            }
            if (l === i || l === undefined) problems.push(`${id(i)} kept leading on a low disk for 10 s`);
          }
          ctx.log(`  writes sent to ${id(i)} while its disk was full: ${probes.join("; ")}`);
          rmSync(ballast, { force: true });
        },
        verify: async () => (problems.length > 0 ? problems.join("; ") : undefined),
      };
    }
    case "slow-disk": {
      // The node's test-only failpoint (RAFTKV_TEST_FSYNC_DELAY_FILE): every save waits this long first.
      const i = rand() < 0.5 ? await leader() : pick(rand, all);
      const n = c.nodes[i];
      if (!n) throw new Error("no node");
      const ms = Math.round(200 + rand() * 600);
      writeFileSync(n.delayFile, String(ms));
      return {
        what: `slow disk on ${id(i)}: every save takes ${ms} ms longer`,
        heal: async () => rmSync(n.delayFile, { force: true }),
      };
    }
  }
}
