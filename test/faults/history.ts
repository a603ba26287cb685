/**
 * History types for the linearizability checker: what a test client records
 * about each key-value operation, plus parsing, canonical JSON and printing.
 * Everything is plain JSON so a history can be written as JSONL and re-checked.
 */

/** Any JSON value. Values stored under a key are arbitrary JSON. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The four operations of the key-value model. */
export type OpKind = "set" | "get" | "delete" | "cas";

/**
 * How an operation ended: `ok` = answered, result known; `fail` = definitely
 * not applied (e.g. 4xx/409 "not applied"); `unknown` = timeout or connection
 * error, so it may have taken effect at any time after its call, or never.
 */
export type OpStatus = "ok" | "fail" | "unknown";

/** One client operation as recorded by a test harness (one JSONL line). */
export interface Operation {
  /** Stable id shown in witnesses; defaults to the index in the history. */
  id?: number;
  /** The client (process/connection) that issued it. */
  client: string | number;
  /** Which operation. */
  kind: OpKind;
  /** The key it touched. */
  key: string;
  /** set: the value written; cas: the new value. */
  value?: Json;
  /** cas: the expected current value; null means "key absent". */
  expect?: Json;
  /** Time the client sent the request. */
  call: number;
  /** Time the client got the answer; undefined, null or Infinity = outcome unknown. */
  ret?: number | null;
  /** Defaults to "ok" when `ret` is finite, else "unknown". A finite `ret` with "unknown" is treated as never returning. */
  status?: OpStatus;
  /** get: the value read (null = absent); cas: true iff it applied; set/delete: unused. */
  output?: Json;
}

/** An operation after validation: ids filled in, unknown outcomes have ret = Infinity. */
export interface NormalizedOp {
  /** Stable id (from the input, or its index). */
  id: number;
  /** Issuing client. */
  client: string | number;
  /** Operation kind. */
  kind: OpKind;
  /** Key. */
  key: string;
  /** Written value for set/cas (null for others). */
  value: Json;
  /** Expected value for cas (null = absent; null for others). */
  expect: Json;
  /** Call time. */
  call: number;
  /** Return time, Infinity when the outcome is unknown. */
  ret: number;
  /** Final status. */
  status: OpStatus;
  /** get: value read; cas: boolean; others: null. Meaningless when status is not "ok". */
  output: Json;
}

/** JSON with object keys sorted recursively, so equal values give equal strings. */
export function canonicalJson(value: Json | undefined): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}

/** Deep equality of two JSON values (object key order does not matter). */
export function jsonEquals(a: Json | undefined, b: Json | undefined): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Validates one operation and fills in defaults; throws with a readable message on bad input. */
export function normalizeOp(op: Operation, index: number): NormalizedOp {
  const where = `operation ${op.id ?? index}`;
  if (!["set", "get", "delete", "cas"].includes(op.kind)) throw new Error(`${where}: bad kind ${String(op.kind)}`);
  if (typeof op.key !== "string") throw new Error(`${where}: key must be a string`);
  if (typeof op.call !== "number" || !Number.isFinite(op.call))
    throw new Error(`${where}: call must be a finite number`);
  const finite = typeof op.ret === "number" && Number.isFinite(op.ret);
  const status: OpStatus = op.status ?? (finite ? "ok" : "unknown");
  if (!["ok", "fail", "unknown"].includes(status)) throw new Error(`${where}: bad status ${String(status)}`);
  if (status === "ok" && !finite) throw new Error(`${where}: status ok needs a finite ret`);
  if (finite && (op.ret as number) < op.call) throw new Error(`${where}: ret before call`);
  if (status === "ok" && op.kind === "cas" && typeof op.output !== "boolean") {
    throw new Error(`${where}: a completed cas needs a boolean output`);
  }
  if ((op.kind === "set" || op.kind === "cas") && op.value === undefined) throw new Error(`${where}: missing value`);
  return {
    id: op.id ?? index,
    client: op.client,
    kind: op.kind,
    key: op.key,
    value: op.value ?? null,
    expect: op.expect ?? null,
    call: op.call,
    // A known-late answer of unknown outcome is still "maybe never": treat it as not returning.
    ret: status === "ok" || status === "fail" ? (finite ? (op.ret as number) : Infinity) : Infinity,
    status,
    output: op.output ?? null,
  };
}

/** Parses a JSONL history (one Operation per line; blank lines and `#` comments skipped). */
export function parseHistoryJsonl(text: string): Operation[] {
  const ops: Operation[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      ops.push(JSON.parse(line) as Operation);
    } catch (err) {
      throw new Error(`line ${i + 1}: ${(err as Error).message}`);
    }
  }
  return ops;
}

/** Short JSON for messages; null is shown as `null (absent)` by callers that care. */
export function showValue(value: Json | undefined, max = 60): string {
  const s = canonicalJson(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** One-line description of an operation, e.g. `#12 client 3: get("k") -> "a"  [40 .. 50]`. */
export function describeOp(op: NormalizedOp): string {
  const k = JSON.stringify(op.key);
  let call: string;
  if (op.kind === "set") call = `set(${k}, ${showValue(op.value)})`;
  else if (op.kind === "cas") call = `cas(${k}, expect ${showValue(op.expect)}, new ${showValue(op.value)})`;
  else call = `${op.kind}(${k})`;
  let result: string;
  if (op.status === "unknown") result = "? (outcome unknown)";
  else if (op.status === "fail") result = "failed, not applied";
  else if (op.kind === "get") result = op.output === null ? "null (absent)" : showValue(op.output);
  else if (op.kind === "cas") result = op.output === true ? "ok" : "not ok (value differed)";
  else result = "ok";
  const ret = Number.isFinite(op.ret) ? String(op.ret) : "∞";
  return `#${op.id} client ${op.client}: ${call} -> ${result}  [${op.call} .. ${ret}]`;
}
