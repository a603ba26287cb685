/**
 * The key-value model as the checker's search sees one key: values interned to
 * small ints, operations reduced to step codes, and unknown-outcome operations
 * grouped into classes of interchangeable ones. Pure data, no search.
 */

import type { Json, NormalizedOp } from "./history.ts";
import { canonicalJson } from "./history.ts";

// Step codes. A known cas carries its result; an unknown cas just applies if it can.
const K_SET = 0;
const K_DEL = 1;
const K_GET = 2;
const K_CAS_OK = 3;
const K_CAS_FAIL = 4;
const K_CAS_MAYBE = 5;

/** End of the event list. */
export const NIL = -1;

/** Whether bit i is set. */
export function has(bits: Uint32Array, i: number): boolean {
  return (((bits[i >>> 5] ?? 0) >>> (i & 31)) & 1) === 1;
}

/** Toggles bit i. */
export function flip(bits: Uint32Array, i: number): void {
  bits[i >>> 5] = (bits[i >>> 5] ?? 0) ^ (1 << (i & 31));
}

/** One key's operations encoded for the search; ids index `known` / `unknown`. */
export interface KeyModel {
  /** Completed operations, in call order. */
  known: NormalizedOp[];
  /** Unknown-outcome writes (unknown reads are dropped), in call order. */
  unknown: NormalizedOp[];
  /** Value for each state id (0 = absent; GARBAGE's entry is meaningless). */
  stateVals: Json[];
  /** The one state standing for every written value no read can observe. */
  garbage: number;
  /** Step of known op i from state s: the new state, or -1 if impossible. */
  stepKnown: (i: number, s: number) => number;
  /** Step of unknown op u from state s (always possible). */
  stepUnknown: (u: number, s: number) => number;
  /** Whether known op i can change the state (set, delete, successful cas); the others only read. */
  writes: (i: number) => boolean;
  /** Class of each unknown op. */
  classOf: Int32Array;
  /** Members of each class, in call order. */
  members: number[][];
  /** Classes of unknown cas ops, by the state they expect. */
  casByExpect: Map<number, number[]>;
  /** Classes that could ever help a read, i.e. worth trying to start a chain. */
  roots: number[];
  /** Sentinel of the event list: known op i has call entry 2i and return entry 2i+1. */
  head: number;
  /** Event list links (the search lifts entries out and back in). */
  next: Int32Array;
  /** Event list back links. */
  prev: Int32Array;
  /** Position of each known entry among all events in time order. */
  pos: Int32Array;
  /** Position of each unknown op's call among all events. */
  uCallPos: Int32Array;
  /** Known ops called before op i returns: none at or past it can be linearized while i is pending. */
  callBefore: Int32Array;
  /** Takes known op i's two entries out of the list. */
  lift: (i: number) => void;
  /** Puts them back; valid only in exact reverse order of lift (dancing links). */
  unlift: (i: number) => void;
}

/** Encodes one key's operations (any order; failed ones are ignored). */
export function encodeKey(all: NormalizedOp[]): KeyModel {
  const byCall = (a: NormalizedOp, b: NormalizedOp): number => a.call - b.call || a.id - b.id;
  // Failed ops did not happen; unknown reads observed nothing anyone can check.
  const known = all.filter((o) => o.status === "ok").sort(byCall);
  const unknown = all.filter((o) => o.status === "unknown" && o.kind !== "get").sort(byCall);
  const nK = known.length;
  const nU = unknown.length;

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
  // Values some read can tell apart; any other written value behaves the same
  // in every step, so all of them share one GARBAGE state (fewer states, and
  // unknown writes of such values become interchangeable).
  const readable = new Set<number>([0]);
  for (const o of known)
    if (o.kind === "get" || o.kind === "cas") readable.add(intern(o.kind === "get" ? o.output : o.expect));
  for (const o of unknown) if (o.kind === "cas") readable.add(intern(o.expect));
  const garbage = stateVals.length;
  stateVals.push(null);
  const written = (v: Json): number => {
    const id = intern(v);
    return readable.has(id) ? id : garbage;
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
  const writes = (i: number): boolean => kCode[i] !== K_GET && kCode[i] !== K_CAS_FAIL;

  // Unknown ops with the same effect are interchangeable once called: a class.
  const classIds = new Map<string, number>();
  const classOf = new Int32Array(nU);
  const members: number[][] = [];
  for (let u = 0; u < nU; u++) {
    const k = `${uCode[u]}:${uA[u]}:${uB[u]}`;
    let c = classIds.get(k);
    if (c === undefined) {
      c = members.length;
      classIds.set(k, c);
      members.push([]);
    }
    classOf[u] = c;
    members[c]?.push(u);
  }
  // A write matters only if a read could observe its value; a known "cas not
  // ok" observes every value but one, so then every write may matter.
  const positive = new Set<number>();
  let anyCasFail = false;
  for (let i = 0; i < nK; i++) {
    if (kCode[i] === K_GET || kCode[i] === K_CAS_OK) positive.add(kA[i] ?? 0);
    if (kCode[i] === K_CAS_FAIL) anyCasFail = true;
  }
  const casByExpect = new Map<number, number[]>();
  members.forEach((list, c) => {
    const u = list[0] ?? 0;
    if (uCode[u] !== K_CAS_MAYBE) return;
    const e = uA[u] ?? 0;
    positive.add(e);
    casByExpect.set(e, [...(casByExpect.get(e) ?? []), c]);
  });
  const roots: number[] = [];
  members.forEach((list, c) => {
    const u = list[0] ?? 0;
    if (anyCasFail || positive.has(uCode[u] === K_DEL ? 0 : (uB[u] ?? 0))) roots.push(c);
  });

  // Events: known op i is entries 2i (call) and 2i+1 (return); unknown op u is event 2nK+u (call only).
  // At equal times calls sort before returns, so touching intervals count as concurrent.
  const evTime = (e: number): number =>
    e >= 2 * nK ? (unknown[e - 2 * nK]?.call ?? 0) : e & 1 ? (known[e >> 1]?.ret ?? 0) : (known[e >> 1]?.call ?? 0);
  const evType = (e: number): number => (e < 2 * nK ? e & 1 : 0);
  const order = Array.from({ length: 2 * nK + nU }, (_, e) => e);
  order.sort((x, y) => evTime(x) - evTime(y) || evType(x) - evType(y) || x - y);
  const head = 2 * nK;
  const next = new Int32Array(2 * nK + 1).fill(NIL);
  const prev = new Int32Array(2 * nK + 1).fill(NIL);
  const pos = new Int32Array(2 * nK);
  const uCallPos = new Int32Array(nU);
  const callBefore = new Int32Array(nK);
  let last = head;
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
  return {
    ...{ known, unknown, stateVals, garbage, stepKnown, stepUnknown, writes, classOf, members, casByExpect, roots },
    ...{ head, next, prev, pos, uCallPos, callBefore, lift, unlift },
  };
}
