/**
 * Linearizability checker for the key-value model (set/get/delete/cas).
 *
 * Wing & Gong's search with Lowe's just-in-time linearization, memoized as in
 * Porcupine. Each key is checked on its own (P-compositionality). Per key, the
 * call and return events of completed operations form a doubly linked list;
 * the search repeatedly linearizes an operation whose call precedes the first
 * pending return (lifting its entries out of the list), backtracks when it
 * reaches a return whose operation it could not linearize, and caches visited
 * (linearized set, state) pairs so equivalent interleavings are explored once.
 *
 * Operations with an unknown outcome (timeouts) are kept out of the list, as
 * they never force anything. They are applied lazily, only as a short chain
 * right before a known read that fails without them; unknown ops with the
 * same effect are interchangeable, and written values no read can observe
 * collapse into one state. A first pass even lets unknown ops act more than
 * once: that relaxation is cheap to refute, and its successes are checked
 * (or re-run exactly) so verdicts stay exact. A read that fits the current
 * state is taken at once without trying alternatives (it can always go first),
 * and reads of values nobody wrote in time are reported before any search.
 */

import type { Json, NormalizedOp, Operation } from "./history.ts";
import { canonicalJson, normalizeOp } from "./history.ts";
import { encodeKey, flip, has, NIL } from "./kv-model.ts";
import type { Witness } from "./witness.ts";
import { findImpossibleRead, formatWitness, makeWitness } from "./witness.ts";

/** Why a key is not linearizable (see witness.ts). */
export type { Witness };
/** Witness type and its renderer, re-exported so callers need one import. */
export { formatWitness };

/** Limits for one check; when exceeded the answer is "unknown" instead of hanging. */
export interface CheckOptions {
  /** Wall-clock budget for the whole history, in milliseconds. */
  timeoutMs?: number;
  /** Search-step budget for the whole history. */
  maxSteps?: number;
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
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
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

/** Unknown-outcome ops applied together right before known op `r` they enable; `state` is after r. */
interface Block {
  ops: number[];
  r: number;
  state: number;
  /** Position of the first pending return when chosen: the ops were called before it. */
  p: number;
}

/** Undo record: `op` >= 0 linearized a known op; -1 is a block choice point. */
interface Frame {
  op: number;
  /** A read taken eagerly: no alternative needs trying at this point. */
  forced: boolean;
  prev: number;
  prevWriter: number;
  oldM: number;
  blocks: Block[] | null;
  idx: number;
}

/** Returned by backtrack() when a block completed the linearization (left applied for usesDistinct). */
const DONE = -2;
/** Thrown from deep inside the search when the budget runs out. */
const OVER_BUDGET = new Error("linearizability search budget exhausted");

/** Counts one step; true once the step or time budget is spent (the clock is read every 1024 steps). */
function overBudget(b: Budget): boolean {
  return ++b.steps > b.maxSteps || ((b.steps & 1023) === 0 && performance.now() > b.deadline);
}

function checkKey(key: string, all: NormalizedOp[], budget: Budget): KeyOutcome {
  const obvious = findImpossibleRead(key, all);
  if (obvious) return { ok: false, witness: obvious };
  const model = encodeKey(all);
  const { known, unknown, stateVals, garbage: GARBAGE, stepKnown, stepUnknown } = model;
  const { classOf, members, casByExpect, roots, head: HEAD, next, pos, uCallPos, callBefore } = model;
  const nK = known.length;
  const nU = unknown.length;
  if (nK === 0) return { ok: true };
  const inClass = new Int32Array(members.length); // applied members per class
  const inPath = new Int32Array(members.length); // members used by the chain being built

  const { lift, unlift } = model;
  const kb = new Uint32Array((nK + 31) >>> 5); // linearized known ops
  const ub = new Uint32Array((nU + 31) >>> 5); // applied unknown ops

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
  // Relaxed mode lets unknown ops take effect any number of times: configurations
  // then need no record of applied ops, so refuting a history stays cheap even
  // with many timeouts. A relaxed failure is a real failure; a relaxed success
  // is checked for reuse (usesDistinct) and else re-run exactly.
  let relaxed = false;
  const toggleBlock = (b: Block, on: boolean): void => {
    if (relaxed) return;
    for (const u of b.ops) {
      flip(ub, u);
      const c = classOf[u] ?? 0;
      inClass[c] = (inClass[c] ?? 0) + (on ? 1 : -1);
    }
    applied += on ? b.ops.length : -b.ops.length;
  };

  // Unknown-outcome writes are tried only when some linearizable-now known op r
  // fails in state `s`, as a chain (first op changes the value, later ones are
  // matching cas's, no value repeats) immediately followed by r, now succeeding.
  // Any linearization can be rewritten into that shape: unknown ops before an
  // op that succeeds anyway can be dropped or moved after it.
  const blocksAt = (p: number, capturePos: number): Block[] | null => {
    const failing: number[] = [];
    for (let e = next[HEAD] ?? NIL; e !== NIL && (e & 1) === 0; e = next[e] ?? NIL)
      if (stepKnown(e >> 1, s) < 0) failing.push(e >> 1);
    if (failing.length === 0) return null;
    const out: Block[] = [];
    const path: number[] = [];
    const seen: number[] = [s]; // states on the chain: coming back to one is a useless detour
    const visit = (c: number, cur: number): void => {
      const u = members[c]?.[(inClass[c] ?? 0) + (inPath[c] ?? 0)];
      if (u === undefined || (uCallPos[u] ?? 0) >= p) return;
      const ns = stepUnknown(u, cur);
      if (seen.includes(ns)) return;
      if (capturePos < 0 && overBudget(budget)) throw OVER_BUDGET;
      path.push(u);
      seen.push(ns);
      inPath[c] = (inPath[c] ?? 0) + 1;
      for (const r of failing) {
        const after = stepKnown(r, ns);
        if (after >= 0) out.push({ ops: path.slice(), r, state: after, p });
      }
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
  // The GARBAGE stand-in hides which never-read value it is: remember some
  // last writers (known op i, or nK + unknown op u) to name example values.
  let writer = -1;
  const bestWriters = new Set<number>();
  const captured: { witness: Witness | null } = { witness: null };

  const undo = (f: Frame): void => {
    const r = f.op >= 0 ? f.op : (f.blocks?.[f.idx]?.r ?? -1);
    if (r >= 0) {
      unlift(r);
      flip(kb, r);
      lin--;
    }
    const b = f.blocks?.[f.idx];
    if (b) toggleBlock(b, false);
    m = f.oldM;
    s = f.prev;
    writer = f.prevWriter;
  };

  // Returns "ok", "fail", or (when capturing) "captured" at the first
  // stuck return whose position is capturePos. Deterministic, so a second run
  // reproduces the first one's path without having copied stacks on the way.
  const search = (capturePos: number): string => {
    for (let f = frames.pop(); f; f = frames.pop()) undo(f);
    cache.clear();
    if (capturePos < 0) bestPos = -1; // a new best clears bestStates and bestWriters
    let entry = next[HEAD] ?? NIL;
    for (;;) {
      if (capturePos < 0 && overBudget(budget)) throw OVER_BUDGET;
      if ((entry & 1) === 0) {
        const i = entry >> 1;
        const ns = stepKnown(i, s);
        if (ns >= 0) {
          if (lin + 1 === nK) return "ok"; // leftover unknown ops simply never happened
          flip(kb, i);
          const oldM = m;
          while (m < nK && has(kb, m)) m++;
          if (remember(ns)) {
            frames.push({ op: i, forced: !model.writes(i), prev: s, prevWriter: writer, oldM, blocks: null, idx: 0 });
            if (model.writes(i)) writer = i;
            lift(i);
            s = ns;
            lin++;
            entry = next[HEAD] ?? NIL;
            continue;
          }
          flip(kb, i);
          m = oldM;
          if (!model.writes(i)) {
            // A read that fits now can always go first (moving it earlier changes
            // no one's view), so trying other orders here is pointless.
            entry = backtrack();
            if (entry === NIL) return "fail";
            if (entry === DONE) return "ok";
            continue;
          }
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
        bestWriters.clear();
      }
      if (p === bestPos) {
        bestStates.add(s);
        if (s === GARBAGE && bestWriters.size < 8) bestWriters.add(writer);
      }
      const blocks = nU > 0 ? blocksAt(p, capturePos) : null;
      if (blocks) frames.push({ op: -1, forced: false, prev: s, prevWriter: writer, oldM: m, blocks, idx: -1 });
      entry = backtrack();
      if (entry === NIL) return "fail";
      if (entry === DONE) return "ok";
    }
  };

  // Undoes choices until one has an untried alternative, takes it and returns
  // where to resume scanning; NIL when there is nothing left to try.
  const backtrack = (): number => {
    for (;;) {
      const f = frames[frames.length - 1];
      if (!f) return NIL;
      undo(f);
      if (f.op >= 0) {
        frames.pop();
        if (f.forced) continue; // a forced read has no alternative: its config failed too
        return next[2 * f.op] ?? NIL;
      }
      const bs = f.blocks ?? [];
      let b = bs[++f.idx];
      while (b) {
        toggleBlock(b, true);
        flip(kb, b.r);
        while (m < nK && has(kb, m)) m++;
        if (lin + 1 === nK || remember(b.state)) break;
        flip(kb, b.r);
        m = f.oldM;
        toggleBlock(b, false);
        b = bs[++f.idx];
      }
      if (b) {
        lift(b.r);
        lin++;
        s = b.state;
        writer = model.writes(b.r) ? b.r : nK + (b.ops[b.ops.length - 1] ?? 0);
        return lin === nK ? DONE : (next[HEAD] ?? NIL);
      }
      frames.pop();
    }
  };

  // After a relaxed success: can each use of a class go to a distinct member
  // already called at that point? Greedy in call order is optimal here.
  const usesDistinct = (): boolean => {
    const used = new Int32Array(members.length);
    for (const f of frames) {
      const b = f.blocks?.[f.idx];
      for (const u of b?.ops ?? []) {
        const c = classOf[u] ?? 0;
        const member = members[c]?.[used[c] ?? 0];
        used[c] = (used[c] ?? 0) + 1;
        if (member === undefined || (uCallPos[member] ?? 0) >= (b?.p ?? 0)) return false;
      }
    }
    return true;
  };

  const buildWitness = (entry: number, p: number): Witness => {
    const prefix: NormalizedOp[] = [];
    for (const f of frames) {
      const b = f.blocks?.[f.idx];
      for (const u of b?.ops ?? []) prefix.push(unknown[u] as NormalizedOp);
      prefix.push(known[f.op >= 0 ? f.op : (b?.r ?? 0)] as NormalizedOp);
    }
    const pending: NormalizedOp[] = [];
    for (let e = next[HEAD] ?? NIL; e !== entry; e = next[e] ?? NIL)
      if (e !== entry - 1) pending.push(known[e >> 1] as NormalizedOp);
    // Unknown-outcome ops stay pending forever; list the most recent first.
    for (let u = nU - 1; u >= 0; u--)
      if ((uCallPos[u] ?? 0) < p && !has(ub, u)) pending.push(unknown[u] as NormalizedOp);
    const readable = [...bestStates]
      .filter((id) => id !== GARBAGE)
      .sort((x, y) => x - y)
      .map((id) => stateVals[id] ?? null);
    const unread = new Map<string, Json>();
    for (const w of bestWriters) {
      const v = (w < nK ? known[w] : unknown[w - nK])?.value ?? null;
      unread.set(canonicalJson(v), v);
    }
    return makeWitness({
      key,
      failedOp: known[entry >> 1] as NormalizedOp,
      prefix,
      readable,
      unread: [...unread.values()],
      pending,
      all,
    });
  };

  const start = performance.now();
  try {
    relaxed = nU > 0;
    let outcome = search(-1);
    if (outcome === "ok" && relaxed && !usesDistinct()) {
      for (let f = frames.pop(); f; f = frames.pop()) undo(f); // unwind before leaving relaxed mode
      relaxed = false;
      outcome = search(-1);
    }
    if (outcome === "ok") return { ok: true };
  } catch (err) {
    if (err !== OVER_BUDGET) throw err;
    const ms = (performance.now() - start).toFixed(0);
    return { ok: null, reason: `search budget exhausted (${budget.steps} steps in total, ${ms} ms on this key)` };
  }
  search(bestPos);
  if (!captured.witness) throw new Error("internal error: witness not reproduced");
  return { ok: false, witness: captured.witness };
}
