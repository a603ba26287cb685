/**
 * Linearizability checker for the key-value model (set/get/delete/cas).
 *
 * Wing & Gong's search with Lowe's just-in-time linearization, as Porcupine
 * does it: each key is checked on its own (P-compositionality); per key, call
 * and return events form a doubly linked list, we repeatedly linearize an
 * operation whose call precedes the first pending return, backtrack when a
 * return is reached with its operation still pending, and memoize visited
 * (linearized set, state) pairs so equivalent interleavings are explored once.
 *
 * Operations with an unknown outcome are kept out of the list: they never
 * force anything, so they are only applied, lazily, as a short "block" right
 * before a known read that fails in the current state (any linearization can
 * be rewritten into that shape), which keeps timeouts from blowing up the search.
 */
import { canonicalJson, describeOp, normalizeOp, showValue } from "./history.ts";
import type { Json, NormalizedOp, Operation } from "./history.ts";

/** Limits for one check; when exceeded the answer is "unknown" instead of hanging. */
export interface CheckOptions {
  /** Wall-clock budget for the whole history, in milliseconds. */
  timeoutMs?: number;
  /** Search-step budget for the whole history. */
  maxSteps?: number;
}

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
  /** The last operations of that prefix, in linearization order (unknown outcomes shown here were assumed applied). */
  prefixTail: NormalizedOp[];
  /** The value after the prefix (null = absent). */
  stateAfterPrefix: Json;
  /** Every value some read observed that the key could hold when failedOp had to take effect (null = absent). */
  possibleValues: Json[];
  /** True if the key could also hold a value that no read ever observed. */
  otherValuePossible: boolean;
  /** Other not-yet-linearized operations overlapping that point, tried in every order. */
  concurrent: NormalizedOp[];
  /** How many such operations there were (concurrent is truncated). */
  concurrentTotal: number;
}

/** Result of a check: linearizable, not (with a witness), or unknown (budget exhausted). */
export type CheckResult =
  | { ok: true }
  | { ok: false; key: string; witness: Witness }
  | { ok: null; key: string; reason: string };

/** Checks a whole history; it is linearizable iff every key's sub-history is. */
export function checkHistory(history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, NormalizedOp[]>();
  history.forEach((raw, i) => {
    const op = normalizeOp(raw, i);
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  });
  const budget: Budget = {
    deadline: options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs,
    maxSteps: options.maxSteps ?? Infinity,
    steps: 0,
  };
  let undecided: { ok: null; key: string; reason: string } | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const r = checkKey(key, byKey.get(key) ?? [], budget);
    if (r.ok === false) return { ok: false, key, witness: r.witness };
    // Keep going: a later key may still fail definitively, which beats "unknown".
    if (r.ok === null && !undecided) undecided = { ok: null, key, reason: r.reason };
  }
  return undecided ?? { ok: true };
}

/** Multi-line, human-readable rendering of a witness. */
export function formatWitness(w: Witness): string {
  const lines = [`Key ${JSON.stringify(w.key)} is not linearizable: ${w.reason}`];
  lines.push("Operation that could not be linearized:", `  ${describeOp(w.failedOp)}`);
  const shown = w.prefixTail.length < w.prefixLength ? `, last ${w.prefixTail.length} shown` : "";
  lines.push(`Longest linearizable prefix: ${w.prefixLength} operation(s)${shown}:`);
  for (const op of w.prefixTail) lines.push(`  ${describeOp(op)}`);
  lines.push(`  value after the prefix: ${showState(w.stateAfterPrefix)}`);
  lines.push(`Other pending operations at that point (all orders tried): ${w.concurrentTotal}`);
  for (const op of w.concurrent) lines.push(`  ${describeOp(op)}`);
  if (w.concurrentTotal > w.concurrent.length) lines.push(`  … and ${w.concurrentTotal - w.concurrent.length} more`);
  return lines.join("\n");
}

/** One-paragraph rendering of any check result (used by the CLI). */
export function formatResult(r: CheckResult): string {
  if (r.ok === true) return "linearizable";
  if (r.ok === null) return `unknown: ${r.reason} (key ${JSON.stringify(r.key)})`;
  return formatWitness(r.witness);
}

interface Budget {
  deadline: number;
  maxSteps: number;
  steps: number;
}

type KeyOutcome = { ok: true } | { ok: false; witness: Witness } | { ok: null; reason: string };

/** A run of unknown-outcome operations applied together, and the state it leaves. */
interface Block {
  ops: number[];
  state: number;
}

/** Undo record: `op` >= 0 linearized a known op; -1 is a block choice point. */
interface Frame {
  op: number;
  prev: number;
  oldM: number;
  blocks: Block[] | null;
  idx: number;
}

// Step codes. A known cas carries its result; an unknown cas just applies if it can.
const K_SET = 0;
const K_DEL = 1;
const K_GET = 2;
const K_CAS_OK = 3;
const K_CAS_FAIL = 4;
const K_CAS_MAYBE = 5;
const NIL = -1;
const MAX_LISTED = 10;

const byCall = (a: NormalizedOp, b: NormalizedOp): number => a.call - b.call || a.id - b.id;
const showState = (v: Json): string => (v === null ? "null (absent)" : showValue(v));

function checkKey(key: string, all: NormalizedOp[], budget: Budget): KeyOutcome {
  // Values are interned to small ints; 0 is "absent" (a set of JSON null also means absent).
  const stateIds = new Map<string, number>([["null", 0]]);
  const stateVals: Json[] = [null];
  const intern = (v: Json): number => {
    const c = canonicalJson(v);
    let id = stateIds.get(c);
    if (id === undefined) {
      id = stateVals.length;
      stateIds.set(c, id);
      stateVals.push(v);
    }
    return id;
  };

  // Failed ops did not happen; unknown reads observed nothing anyone can check.
  const known = all.filter((o) => o.status === "ok").sort(byCall);
  const unknown = all.filter((o) => o.status === "unknown" && o.kind !== "get").sort(byCall);
  const nK = known.length;
  const nU = unknown.length;
  if (nK === 0) return { ok: true };

  // Values any read can tell apart; every other written value behaves the same
  // in every step, so they all share one GARBAGE state (fewer states, and
  // unknown writes of such values become interchangeable).
  const readable = new Set<number>([0]);
  for (const o of known) if (o.kind === "get" || o.kind === "cas") readable.add(intern(o.kind === "get" ? o.output : o.expect));
  for (const o of unknown) if (o.kind === "cas") readable.add(intern(o.expect));
  const GARBAGE = stateVals.length;
  stateVals.push(null);
  const written = (v: Json): number => {
    const id = intern(v);
    return readable.has(id) ? id : GARBAGE;
  };

  const kCode = new Uint8Array(nK);
  const kA = new Int32Array(nK);
  const kB = new Int32Array(nK);
  known.forEach((o, i) => {
    if (o.kind === "get") kA[i] = intern(o.output);
    if (o.kind === "cas") kA[i] = intern(o.expect);
    if (o.kind === "set" || o.kind === "cas") kB[i] = written(o.value);
    const cas = o.output === true ? K_CAS_OK : K_CAS_FAIL;
    kCode[i] = o.kind === "set" ? K_SET : o.kind === "delete" ? K_DEL : o.kind === "get" ? K_GET : cas;
  });
  const uCode = new Uint8Array(nU);
  const uA = new Int32Array(nU);
  const uB = new Int32Array(nU);
  unknown.forEach((o, u) => {
    uCode[u] = o.kind === "set" ? K_SET : o.kind === "delete" ? K_DEL : K_CAS_MAYBE;
    if (o.kind !== "delete") uB[u] = written(o.value);
    if (o.kind === "cas") uA[u] = intern(o.expect);
  });

  const stepKnown = (i: number, s: number): number => {
    switch (kCode[i]) {
      case K_SET:
        return kB[i] ?? 0;
      case K_DEL:
        return 0;
      case K_GET:
        return s === kA[i] ? s : -1;
      case K_CAS_OK:
        return s === kA[i] ? (kB[i] ?? 0) : -1;
      default:
        return s !== kA[i] ? s : -1;
    }
  };
  const stepUnknown = (u: number, s: number): number =>
    uCode[u] === K_SET ? (uB[u] ?? 0) : uCode[u] === K_DEL ? 0 : s === uA[u] ? (uB[u] ?? 0) : s;

  // Unknown ops with the same effect are interchangeable once called, so they
  // form a class and only its earliest unapplied member is ever tried: applied
  // members are then always a prefix of the class (no symmetric branches).
  const classIds = new Map<string, number>();
  const classOf = new Int32Array(nU);
  const members: number[][] = [];
  for (let u = 0; u < nU; u++) {
    const k = `${uCode[u]}:${uA[u]}:${uB[u]}`;
    let c = classIds.get(k);
    if (c === undefined) classIds.set(k, (c = members.length)), members.push([]);
    classOf[u] = c;
    members[c]?.push(u);
  }
  const inClass = new Int32Array(members.length); // applied members per class
  const inPath = new Int32Array(members.length); // members used by the chain being built
  // A write matters only if a read could observe its value; a known "cas not
  // ok" observes every value but one, so then every write may matter.
  const positive = new Set<number>();
  let anyCasFail = false;
  for (let i = 0; i < nK; i++) {
    if (kCode[i] === K_GET || kCode[i] === K_CAS_OK) positive.add(kA[i] ?? 0);
    if (kCode[i] === K_CAS_FAIL) anyCasFail = true;
  }
  const casByExpect = new Map<number, number[]>();
  const roots: number[] = [];
  members.forEach((list, c) => {
    const u = list[0] ?? 0;
    if (uCode[u] === K_CAS_MAYBE) {
      positive.add(uA[u] ?? 0);
      casByExpect.set(uA[u] ?? 0, [...(casByExpect.get(uA[u] ?? 0) ?? []), c]);
    }
  });
  members.forEach((list, c) => {
    const u = list[0] ?? 0;
    if (anyCasFail || positive.has(uCode[u] === K_DEL ? 0 : (uB[u] ?? 0))) roots.push(c);
  });

  // Events: known op i has call entry 2i and return entry 2i+1; unknown op u is event 2nK+u (call only).
  // At equal times calls sort before returns, so touching intervals count as concurrent.
  const nE = 2 * nK + nU;
  const evTime = (e: number): number => (e >= 2 * nK ? (unknown[e - 2 * nK]?.call ?? 0) : e & 1 ? (known[e >> 1]?.ret ?? 0) : (known[e >> 1]?.call ?? 0));
  const evType = (e: number): number => (e < 2 * nK ? e & 1 : 0);
  const order = Array.from({ length: nE }, (_, e) => e).sort((x, y) => evTime(x) - evTime(y) || evType(x) - evType(y) || x - y);
  const HEAD = 2 * nK;
  const next = new Int32Array(2 * nK + 1).fill(NIL);
  const prev = new Int32Array(2 * nK + 1).fill(NIL);
  const pos = new Int32Array(2 * nK);
  const uCallPos = new Int32Array(nU);
  // callBefore[i]: known ops called before i returns; no op at or beyond it can be linearized while i is pending.
  const callBefore = new Int32Array(nK);
  let last = HEAD;
  let callsSeen = 0;
  order.forEach((e, p) => {
    if (e >= 2 * nK) {
      uCallPos[e - 2 * nK] = p;
      return;
    }
    pos[e] = p;
    next[last] = e;
    prev[e] = last;
    last = e;
    if ((e & 1) === 0) callsSeen++;
    else callBefore[e >> 1] = callsSeen;
  });

  const lift = (i: number): void => {
    for (const e of [2 * i, 2 * i + 1]) {
      const p = prev[e] ?? NIL;
      const n = next[e] ?? NIL;
      next[p] = n;
      if (n !== NIL) prev[n] = p;
    }
  };
  const unlift = (i: number): void => {
    for (const e of [2 * i + 1, 2 * i]) {
      const p = prev[e] ?? NIL;
      const n = next[e] ?? NIL;
      next[p] = e;
      if (n !== NIL) prev[n] = e;
    }
  };

  const kb = new Uint32Array((nK + 31) >>> 5);
  const ub = new Uint32Array((nU + 31) >>> 5);
  const has = (bits: Uint32Array, i: number): boolean => (((bits[i >>> 5] ?? 0) >>> (i & 31)) & 1) === 1;
  const flip = (bits: Uint32Array, i: number): void => {
    bits[i >>> 5] = (bits[i >>> 5] ?? 0) ^ (1 << (i & 31));
  };

  // Search state. m is the lowest unlinearized known op: everything below it is
  // linearized and nothing at or past callBefore[m] is, so the cache key only
  // needs m and the words in between (plus the applied unknown ops).
  let s = 0;
  let m = 0;
  let lin = 0;
  let applied = 0;
  const frames: Frame[] = [];
  // Visited configurations, keyed without the applied unknown ops; each entry
  // lists the applied sets seen. Having applied fewer unknown ops only leaves
  // more options, so a configuration is pruned when a visited one with the
  // same key applied a subset: otherwise a harmless early guess about a
  // timed-out write would make the search redo the whole suffix.
  const cache = new Map<string, number[][]>();
  const remember = (state: number): boolean => {
    let k = `${state}:${m}`;
    const hi = ((callBefore[m] ?? nK) - 1) >>> 5;
    for (let w = m >>> 5; w <= hi; w++) k += `,${kb[w]}`;
    const seen = cache.get(k);
    if (seen) {
      for (const snap of seen) {
        let subset = true;
        for (let j = 0; subset && j < snap.length; j += 2) {
          const bits = snap[j + 1] ?? 0;
          subset = ((ub[snap[j] ?? 0] ?? 0) & bits) >>> 0 === bits;
        }
        if (subset) return false;
      }
    }
    const snap: number[] = [];
    if (applied > 0) for (let w = 0; w < ub.length; w++) if (ub[w] !== 0) snap.push(w, ub[w] ?? 0);
    if (seen) seen.push(snap);
    else cache.set(k, [snap]);
    return true;
  };
  const toggleBlock = (b: Block, on: boolean): void => {
    for (const u of b.ops) {
      flip(ub, u);
      inClass[classOf[u] ?? 0] += on ? 1 : -1;
    }
    applied += on ? b.ops.length : -b.ops.length;
  };

  // Unknown-outcome writes are tried only when some linearizable-now known op
  // fails in state `s`: a chain whose first op changes the value and whose
  // later ops are cas's that match, ending where one of those ops succeeds.
  const blocksAt = (p: number): Block[] | null => {
    const failing: number[] = [];
    for (let e = next[HEAD] ?? NIL; e !== NIL && (e & 1) === 0; e = next[e] ?? NIL) if (stepKnown(e >> 1, s) < 0) failing.push(e >> 1);
    if (failing.length === 0) return null;
    const out: Block[] = [];
    const path: number[] = [];
    const seen: number[] = [s]; // states on the chain: coming back to one is a useless detour
    const visit = (c: number, cur: number): void => {
      const u = members[c]?.[(inClass[c] ?? 0) + (inPath[c] ?? 0)];
      if (u === undefined || (uCallPos[u] ?? 0) >= p) return;
      const ns = stepUnknown(u, cur);
      if (seen.includes(ns)) return;
      budget.steps++;
      path.push(u);
      seen.push(ns);
      inPath[c] = (inPath[c] ?? 0) + 1;
      if (failing.some((r) => stepKnown(r, ns) >= 0)) out.push({ ops: path.slice(), state: ns });
      for (const c2 of casByExpect.get(ns) ?? []) visit(c2, ns);
      inPath[c] = (inPath[c] ?? 0) - 1;
      seen.pop();
      path.pop();
    };
    for (const c of roots) visit(c, s);
    return out.length > 0 ? out : null;
  };

  let bestPos = -1;
  const bestStates = new Set<number>();
  const captured: { witness: Witness | null } = { witness: null };

  // Returns "ok", "fail", "budget", or (when capturing) "captured" at the first
  // stuck return whose position is capturePos. Deterministic, so a second run
  // reproduces the first one's path without having copied stacks on the way.
  const search = (capturePos: number): string => {
    cache.clear();
    let entry = next[HEAD] ?? NIL;
    for (;;) {
      if (capturePos < 0 && (++budget.steps > budget.maxSteps || ((budget.steps & 1023) === 0 && performance.now() > budget.deadline))) return "budget";
      if ((entry & 1) === 0) {
        const i = entry >> 1;
        const ns = stepKnown(i, s);
        if (ns >= 0) {
          if (lin + 1 === nK) return "ok"; // leftover unknown ops simply never happened
          flip(kb, i);
          const oldM = m;
          while (m < nK && has(kb, m)) m++;
          if (remember(ns)) {
            frames.push({ op: i, prev: s, oldM, blocks: null, idx: 0 });
            lift(i);
            s = ns;
            lin++;
            entry = next[HEAD] ?? NIL;
            continue;
          }
          flip(kb, i);
          m = oldM;
        }
        entry = next[entry] ?? NIL;
        continue;
      }
      // A pending op's return: it cannot be linearized in this prefix. Never NIL, as lin < nK.
      const p = pos[entry] ?? 0;
      if (capturePos >= 0) {
        if (p === capturePos) {
          captured.witness = buildWitness(entry, p);
          return "captured";
        }
      } else if (p > bestPos) {
        bestPos = p;
        bestStates.clear();
        bestStates.add(s);
      } else if (p === bestPos) bestStates.add(s);
      const blocks = nU > 0 ? blocksAt(p) : null;
      if (blocks) frames.push({ op: -1, prev: s, oldM: m, blocks, idx: -1 });
      for (;;) {
        const f = frames[frames.length - 1];
        if (!f) return "fail";
        if (f.op >= 0) {
          frames.pop();
          unlift(f.op);
          flip(kb, f.op);
          m = f.oldM;
          s = f.prev;
          lin--;
          entry = next[2 * f.op] ?? NIL;
          break;
        }
        const bs = f.blocks ?? [];
        const cur = bs[f.idx];
        if (cur) toggleBlock(cur, false);
        s = f.prev;
        let b = bs[++f.idx];
        while (b) {
          toggleBlock(b, true);
          if (remember(b.state)) break;
          toggleBlock(b, false);
          b = bs[++f.idx];
        }
        if (b) {
          s = b.state;
          entry = next[HEAD] ?? NIL;
          break;
        }
        frames.pop();
      }
    }
  };

  const buildWitness = (entry: number, p: number): Witness => {
    const failedOp = known[entry >> 1] as NormalizedOp;
    const prefix: NormalizedOp[] = [];
    for (const f of frames) {
      if (f.op >= 0) prefix.push(known[f.op] as NormalizedOp);
      else for (const u of f.blocks?.[f.idx]?.ops ?? []) prefix.push(unknown[u] as NormalizedOp);
    }
    // Show from a little before the first known op still running when failedOp was called.
    let from = prefix.findIndex((o) => o.status === "ok" && o.ret >= failedOp.call);
    from = Math.max(0, (from < 0 ? prefix.length : from) - 3, prefix.length - 20);
    const concurrent: NormalizedOp[] = [];
    for (let e = next[HEAD] ?? NIL; e !== NIL && e !== entry; e = next[e] ?? NIL) if ((e & 1) === 0 && e !== entry - 1) concurrent.push(known[e >> 1] as NormalizedOp);
    // Unknown-outcome ops stay pending forever; list the most recent first.
    for (let u = nU - 1; u >= 0; u--) if ((uCallPos[u] ?? 0) < p && !has(ub, u)) concurrent.push(unknown[u] as NormalizedOp);
    const ids = [...bestStates].sort((a, b) => a - b);
    const possibleValues = ids.filter((id) => id !== GARBAGE).map((id) => stateVals[id] ?? null);
    const otherValuePossible = bestStates.has(GARBAGE);
    // Replay with real values: the search state may be the GARBAGE stand-in.
    let after: Json = null;
    for (const o of prefix) {
      if (o.kind === "delete") after = null;
      else if (o.kind === "set") after = o.value;
      else if (o.kind === "cas" && (o.status === "ok" ? o.output === true : canonicalJson(after) === canonicalJson(o.expect))) after = o.value;
    }
    return {
      key,
      reason: explain(failedOp, possibleValues, otherValuePossible, all, concurrent.length),
      failedOp,
      prefixLength: prefix.length,
      prefixTail: prefix.slice(from),
      stateAfterPrefix: after,
      possibleValues,
      otherValuePossible,
      concurrent: concurrent.slice(0, MAX_LISTED),
      concurrentTotal: concurrent.length,
    };
  };

  const outcome = search(-1);
  if (outcome === "ok") return { ok: true };
  if (outcome === "budget") return { ok: null, reason: `search budget exhausted after ${budget.steps} steps` };
  search(bestPos);
  if (!captured.witness) throw new Error("internal error: witness not reproduced");
  return { ok: false, witness: captured.witness };
}

/** The sentence saying why `op` fits no order, given every value possible when it had to take effect. */
function explain(op: NormalizedOp, possible: Json[], other: boolean, all: NormalizedOp[], nConcurrent: number): string {
  const shown = possible.slice(0, 8).map(showState);
  if (possible.length > shown.length) shown.push(`${possible.length - shown.length} more`);
  if (other) shown.push("a value no read ever observed");
  const values =
    shown.length === 1
      ? `the only possible value at that point was ${shown[0]}`
      : `the only possible values at that point were ${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
  const orders = nConcurrent > 0 ? `, whatever the order of the ${nConcurrent} other pending operation(s)` : "";
  if (op.kind === "get") return `get returned ${showState(op.output)} but ${values}${orders}; ${provenance(op.output, all)}.`;
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
  const writers = all.filter((o) => writes(o) && o.status !== "fail" && !(o.kind === "cas" && o.status === "ok" && o.output !== true));
  const failed = all.filter((o) => writes(o) && o.status === "fail");
  const ids = (ops: NormalizedOp[]): string => ops.slice(0, 3).map((o) => `#${o.id}`).join(", ") + (ops.length > 3 ? ", …" : "");
  if (c === "null") return `the key was absent initially${writers.length > 0 ? ` and deleted by ${ids(writers)}` : " and never deleted"}`;
  if (writers.length > 0) return `${showState(value)} was written by ${ids(writers)}`;
  if (failed.length > 0) return `${showState(value)} was only written by operation(s) that definitely failed (${ids(failed)})`;
  return `no operation ever wrote ${showState(value)}`;
}
