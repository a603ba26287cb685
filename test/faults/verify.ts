/**
 * What the runner checks after healing: every node holds the same data
 * (stale reads on each node once applied indexes agree), no acknowledged
 * write was lost, and the whole history is linearizable.
 */

import type { FaultCluster } from "./cluster.ts";
import type { Json } from "./history.ts";
import { canonicalJson, describeOp, normalizeOp, showValue } from "./history.ts";
import { checkHistory, formatWitness } from "./linearizability.ts";
import { statuses } from "./nemesis.ts";
import { sleep } from "./sys.ts";
import type { RecordedOp } from "./workload.ts";
import { exchange } from "./workload.ts";

/** An acknowledged write the final state contradicts. */
export interface LostWrite {
  op: RecordedOp;
  key: string;
  final: Json;
  why: string;
}

/** True for operations whose effect is "the key is absent" (delete, or cas to null). */
function deletes(o: RecordedOp): boolean {
  return o.kind === "delete" || (o.kind === "cas" && (o.value ?? null) === null);
}

/** True when the op wrote (or may have written) a value: set, or cas with a value. */
function writesValue(o: RecordedOp): boolean {
  return o.kind === "set" || (o.kind === "cas" && (o.value ?? null) !== null);
}

/** Whether an op definitely took effect (acknowledged, and for cas: applied). */
function acked(o: RecordedOp): boolean {
  if (o.status !== "ok") return false;
  return o.kind === "set" || o.kind === "delete" || (o.kind === "cas" && o.output === true);
}

/** When the op returned (Infinity when its outcome is unknown). */
function retOf(o: RecordedOp): number {
  return o.status === "unknown" || typeof o.ret !== "number" ? Infinity : o.ret;
}

/**
 * Acknowledged writes lost in the final state. Values are unique, so the
 * final value names its writer W; an acknowledged write w (other than W) is
 * lost when W returned before w was called: w came later and should have
 * replaced it. A final "absent" is explained only by a delete that may have
 * come after w. A final value nobody wrote is reported as well.
 */
export function lostWrites(history: readonly RecordedOp[], finals: ReadonlyMap<string, Json>): LostWrite[] {
  const out: LostWrite[] = [];
  const byKey = new Map<string, RecordedOp[]>();
  for (const o of history) {
    if (o.kind === "get") continue;
    const list = byKey.get(o.key) ?? [];
    list.push(o);
    byKey.set(o.key, list);
  }
  for (const [key, final] of finals) {
    const ops = byKey.get(key) ?? [];
    const live = ops.filter((o) => o.status !== "fail" && !(o.kind === "cas" && o.status === "ok" && !o.output));
    if (final === null) {
      for (const w of ops.filter((o) => acked(o) && writesValue(o))) {
        const laterDelete = live.some((d) => deletes(d) && retOf(d) >= w.call);
        if (!laterDelete)
          out.push({ op: w, key, final, why: "the key is absent but no delete could follow this write" });
      }
      continue;
    }
    const c = canonicalJson(final);
    const writer = live.find((o) => writesValue(o) && canonicalJson(o.value ?? null) === c);
    if (!writer) {
      out.push({
        op: { id: -1, client: "?", kind: "set", key, call: 0, node: "?", value: final },
        key,
        final,
        why: `the final value ${showValue(final)} was never written`,
      });
      continue;
    }
    for (const w of ops.filter((o) => acked(o) && o !== writer)) {
      if (retOf(writer) < w.call) {
        out.push({ op: w, key, final, why: `overwritten by #${writer.id}, which had returned before this was called` });
      }
    }
  }
  return out;
}

/** Result of the convergence check. */
export interface Convergence {
  ok: boolean;
  /** Value of each key (from the first node) when ok. */
  values: Map<string, Json>;
  problems: string[];
}

/** GET /key/k?consistency=stale on node i: the value, or an error string. */
async function staleRead(c: FaultCluster, i: number, key: string): Promise<{ v: Json } | { err: string }> {
  const ex = await exchange(c.url(i), "GET", `/key/${encodeURIComponent(key)}?consistency=stale`, undefined, 3000);
  if (ex.kind === "error") return { err: ex.code };
  if (ex.status !== 200) return { err: `HTTP ${ex.status} ${ex.body.slice(0, 200)}` };
  try {
    const body = JSON.parse(ex.body) as Record<string, Json>;
    return { v: body[key] ?? null };
  } catch {
    return { err: `bad body ${ex.body.slice(0, 200)}` };
  }
}

/**
 * Waits until every node applied the same index (the leader's commit index),
 * then compares a stale read of every key on every node; retries while the
 * applied indexes move. Bounded by `ms`.
 */
export async function checkConvergence(c: FaultCluster, keys: string[], ms: number): Promise<Convergence> {
  const end = performance.now() + ms;
  let problems: string[] = ["not checked"];
  while (performance.now() < end) {
    const before = await statuses(c, 2000);
    const applied = before.map((s) => s?.appliedIndex);
    const leader = before.find((s) => s?.state === "leader");
    if (!leader || applied.some((a) => a === undefined || a !== leader.commitIndex)) {
      problems = [`applied indexes ${JSON.stringify(applied)}, leader commit ${leader?.commitIndex ?? "none"}`];
      await sleep(200);
      continue;
    }
    const reads = await Promise.all(c.nodes.map(async (_, i) => Promise.all(keys.map((k) => staleRead(c, i, k)))));
    const after = await statuses(c, 2000);
    if (after.some((s, i) => s?.appliedIndex !== applied[i])) {
      problems = ["applied indexes moved while reading"];
      continue;
    }
    problems = [];
    const values = new Map<string, Json>();
    keys.forEach((k, ki) => {
      const seen = reads.map((r) => r[ki]);
      const errs = seen.flatMap((s, i) => (s && "err" in s ? [`${c.nodes[i]?.id}: ${s.err}`] : []));
      if (errs.length > 0) {
        problems.push(`${k}: stale reads failed (${errs.join("; ")})`);
        return;
      }
      const vals = seen.map((s) => (s && "v" in s ? s.v : null));
      const first = canonicalJson(vals[0] ?? null);
      if (vals.some((v) => canonicalJson(v) !== first)) {
        problems.push(
          `${k}: nodes disagree at applied index ${applied[0]}: ${vals.map((v, i) => `${c.nodes[i]?.id}=${showValue(v)}`).join(", ")}`,
        );
      }
      values.set(k, vals[0] ?? null);
    });
    if (problems.some((p) => p.includes("stale reads failed"))) {
      await sleep(200);
      continue;
    }
    return { ok: problems.length === 0, values, problems };
  }
  return { ok: false, values: new Map(), problems };
}

/** Linearizability verdict, rendered. */
export interface Verdict {
  ok: boolean | null;
  text: string;
  ms: number;
}

/** Runs the checker; on a violation the text is the witness plus where the involved operations went. */
export function checkLinearizable(history: readonly RecordedOp[], timeoutMs: number): Verdict {
  const start = performance.now();
  const r = checkHistory(history, { timeoutMs });
  const ms = performance.now() - start;
  if (r.ok === true) return { ok: true, text: "linearizable", ms };
  if (r.ok === null) return { ok: null, text: `checker gave up: ${r.reason} (key ${r.key})`, ms };
  const w = r.witness;
  const ids = new Set([w.failedOp.id, ...w.prefixTail.map((o) => o.id), ...w.concurrent.map((o) => o.id)]);
  const detail = history
    .filter((o) => ids.has(o.id))
    .map((o) => {
      const where = `sent to ${o.node}${o.via && o.via !== o.node ? `, served by ${o.via}` : ""}`;
      return `    ${describeOp(normalizeOp(o, o.id))}  (${where}${o.http ? `, HTTP ${o.http}` : ""}${o.code ? ` ${o.code}` : ""})`;
    });
  return { ok: false, text: `${formatWitness(w)}\n  involved operations:\n${detail.join("\n")}`, ms };
}
