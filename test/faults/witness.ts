/**
 * Witnesses: the human-readable explanation of why a key's sub-history is not
 * linearizable, built from what the search found at the furthest point it
 * reached (see linearizability.ts), and their text rendering.
 */

import type { Json, NormalizedOp } from "./history.ts";
import { canonicalJson, describeOp, showValue } from "./history.ts";

/** Why one key's sub-history is not linearizable, in terms a human can check. */
export interface Witness {
  /** The key whose sub-history failed. */
  key: string;
  /** One sentence saying why no order fits. */
  reason: string;
  /** The operation that could not be linearized after the longest prefix. */
  failedOp: NormalizedOp;
  /** Number of operations in the longest linearizable prefix found. */
  prefixLength: number;
  /** The last operations of that prefix, in linearization order (unknown outcomes listed here were assumed applied there). */
  prefixTail: NormalizedOp[];
  /** The value after the prefix (null = absent). */
  stateAfterPrefix: Json;
  /** Values the key could hold when failedOp had to take effect (null = absent); values no read ever returned are examples, not necessarily all. Empty when no order could matter (a read of a value never written in time). */
  possibleValues: Json[];
  /** Other operations pending at that point (known ones first), truncated. */
  concurrent: NormalizedOp[];
  /** How many operations were pending (concurrent is truncated). */
  concurrentTotal: number;
}

/** What the search hands over to build a witness. */
export interface WitnessParts {
  /** The key. */
  key: string;
  /** The known operation whose return was reached while it could not be linearized. */
  failedOp: NormalizedOp;
  /** A linearization of the longest prefix, in order. */
  prefix: NormalizedOp[];
  /** Values some read can observe that the key could hold at that point. */
  readable: Json[];
  /** Examples of never-read values the key could hold at that point. */
  unread: Json[];
  /** Operations pending at that point. */
  pending: NormalizedOp[];
  /** Every operation on the key, to say who wrote the value a read returned. */
  all: NormalizedOp[];
}

const MAX_LISTED = 10;
const MAX_TAIL = 20;

/** Renders a value; null is the key being absent. */
export function showState(v: Json): string {
  return v === null ? "null (absent)" : showValue(v);
}

/** Builds the witness: picks the relevant end of the prefix, replays it for the value, explains. */
export function makeWitness(w: WitnessParts): Witness {
  const { failedOp, prefix } = w;
  // Show from a little before the first known op still running when failedOp was called.
  let from = prefix.findIndex((o) => o.status === "ok" && o.ret >= failedOp.call);
  from = Math.max(0, (from < 0 ? prefix.length : from) - 3, prefix.length - MAX_TAIL);
  // ...and from the write that set the value the prefix ends with, if not too far back.
  const lastWrite = prefix.findLastIndex((o) => o.kind !== "get" && !(o.status === "ok" && o.output === false));
  if (lastWrite >= 0 && lastWrite < from) from = Math.max(lastWrite, prefix.length - MAX_TAIL);
  // Replay with real values: the checker's state may stand for any never-read value.
  let after: Json = null;
  for (const o of prefix) {
    if (o.kind === "delete") after = null;
    else if (o.kind === "set") after = o.value;
    else if (
      o.kind === "cas" &&
      (o.status === "ok" ? o.output === true : canonicalJson(after) === canonicalJson(o.expect))
    )
      after = o.value;
  }
  let reason = explain(failedOp, w.readable, w.unread, w.all, w.pending);
  // The refuting search may let an unknown-outcome op act twice; that only adds orders, but say so.
  if (new Set(prefix).size < prefix.length)
    reason +=
      " (The prefix shown uses an operation of unknown outcome more than once; the check allowed that, so the verdict holds a fortiori.)";
  return {
    key: w.key,
    reason,
    failedOp,
    prefixLength: prefix.length,
    prefixTail: prefix.slice(from),
    stateAfterPrefix: after,
    possibleValues: [...w.readable, ...w.unread],
    concurrent: w.pending.slice(0, MAX_LISTED),
    concurrentTotal: w.pending.length,
  };
}

/**
 * Cheap, definitive check run before the search: a get (or a cas that
 * succeeded) whose value no operation could have written before it returned.
 * No order can fix that, so the witness needs no prefix.
 */
export function findImpossibleRead(key: string, all: NormalizedOp[]): Witness | null {
  const firstWrite = new Map<string, NormalizedOp>(); // value -> earliest-called write that may have happened
  for (const o of all) {
    const mayWrite = o.kind === "set" || (o.kind === "cas" && (o.status === "unknown" || o.output === true));
    if (!mayWrite || o.status === "fail") continue;
    const c = canonicalJson(o.value);
    if (o.call < (firstWrite.get(c)?.call ?? Infinity)) firstWrite.set(c, o);
  }
  let bad: NormalizedOp | null = null;
  for (const o of all) {
    if (o.status !== "ok" || !(o.kind === "get" || (o.kind === "cas" && o.output === true))) continue;
    const c = canonicalJson(o.kind === "get" ? o.output : o.expect);
    // null (absent) holds initially; equal times count as concurrent.
    if (c !== "null" && (firstWrite.get(c)?.call ?? Infinity) > o.ret && (!bad || o.ret < bad.ret)) bad = o;
  }
  if (!bad) return null;
  const r = bad;
  const value = r.kind === "get" ? r.output : r.expect;
  const what = r.kind === "get" ? `get returned ${showState(value)}` : `cas expecting ${showState(value)} succeeded`;
  const later = firstWrite.get(canonicalJson(value));
  const source = later
    ? `it was first written by #${later.id}, called at ${later.call}, after that`
    : provenance(value, all);
  const pending = all.filter((o) => o !== r && o.status !== "fail" && o.call <= r.ret && o.ret >= r.call);
  return {
    key,
    reason: `${what} but no operation that could have taken effect before it returned wrote that value; ${source}.`,
    failedOp: r,
    prefixLength: 0,
    prefixTail: [],
    stateAfterPrefix: null,
    possibleValues: [],
    concurrent: pending.slice(0, MAX_LISTED),
    concurrentTotal: pending.length,
  };
}

/** Multi-line, human-readable rendering of a witness. */
export function formatWitness(w: Witness): string {
  const lines = [`Key ${JSON.stringify(w.key)} is not linearizable: ${w.reason}`];
  lines.push("Operation that could not be linearized:", `  ${describeOp(w.failedOp)}`);
  // No possible values means findImpossibleRead: no prefix was needed.
  if (w.possibleValues.length > 0) {
    const shown = w.prefixTail.length < w.prefixLength ? `, last ${w.prefixTail.length} shown` : "";
    lines.push(`Longest linearizable prefix: ${w.prefixLength} operation(s)${shown}:`);
    for (const op of w.prefixTail) lines.push(`  ${describeOp(op)}`);
    lines.push(`  value after the prefix: ${showState(w.stateAfterPrefix)}`);
  }
  lines.push(`Other operations pending at that point: ${w.concurrentTotal}`);
  for (const op of w.concurrent) lines.push(`  ${describeOp(op)}`);
  if (w.concurrentTotal > w.concurrent.length) lines.push(`  … and ${w.concurrentTotal - w.concurrent.length} more`);
  return lines.join("\n");
}

/** The sentence saying why `op` fits no order, given the values possible when it had to take effect. */
function explain(
  op: NormalizedOp,
  readable: Json[],
  unread: Json[],
  all: NormalizedOp[],
  pending: NormalizedOp[],
): string {
  const shown = [...readable.map(showState), ...unread.map((v) => `${showState(v)} (never read)`)];
  if (shown.length > 8) shown.splice(7, shown.length - 7, `${shown.length - 7} more`);
  const values =
    shown.length === 1
      ? `the only possible value at that point was ${shown[0]}`
      : `the only possible values at that point were ${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
  const nTimedOut = pending.filter((o) => o.status === "unknown").length;
  const nConcurrent = pending.length - nTimedOut;
  const orders =
    (nConcurrent > 0 ? `, whatever the order of the ${nConcurrent} concurrent operation(s)` : "") +
    (nTimedOut > 0
      ? `${nConcurrent > 0 ? " and" : ","} whether or not any of the ${nTimedOut} timed-out operation(s) took effect`
      : "");
  if (op.kind === "get")
    return `get returned ${showState(op.output)} but ${values}${orders}; ${provenance(op.output, all)}.`;
  if (op.output === true) {
    return `cas expecting ${showState(op.expect)} succeeded but ${values}${orders}; ${provenance(op.expect, all)}.`;
  }
  return `cas expecting ${showState(op.expect)} reported a different value but ${values}${orders}.`;
}

/** Who wrote `value` on this key: explains stale reads, lost writes and reads of failed writes. */
function provenance(value: Json, all: NormalizedOp[]): string {
  const c = canonicalJson(value);
  const writes = (o: NormalizedOp): boolean =>
    (o.kind === "delete" && c === "null") || ((o.kind === "set" || o.kind === "cas") && canonicalJson(o.value) === c);
  const writers = all.filter(
    (o) => writes(o) && o.status !== "fail" && !(o.kind === "cas" && o.status === "ok" && o.output !== true),
  );
  const failed = all.filter((o) => writes(o) && o.status === "fail");
  const ids = (ops: NormalizedOp[]): string =>
    ops
      .slice(0, 3)
      .map((o) => `#${o.id}`)
      .join(", ") + (ops.length > 3 ? ", …" : "");
  if (c === "null")
    return `the key was absent initially${writers.length > 0 ? ` and deleted by ${ids(writers)}` : " and never deleted"}`;
  const last = writers[writers.length - 1];
  if (writers.length === 1 && last)
    return `${showState(value)} was written only by #${last.id} [${last.call} .. ${last.ret}]`;
  if (writers.length > 0) return `${showState(value)} was written by ${ids(writers)}`;
  if (failed.length > 0)
    return `${showState(value)} was only written by operation(s) that definitely failed (${ids(failed)})`;
  return `no operation ever wrote ${showState(value)}`;
}
