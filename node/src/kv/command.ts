/**
 * The commands of the key-value state machine, as stored (JSON) in the `data`
 * of a Raft `normal` entry, and their validation.
 *
 * `null` is never a stored value: it means "absent" everywhere (a cas
 * `expect: null`, a cas result `current: null`), so it cannot be ambiguous.
 * Deleting through cas is spelled `del: true`.
 */

import type { ErrorCode } from "../errors.ts";

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Set many keys atomically. */
export interface SetCommand {
  op: "set";
  kv: Record<string, JsonValue>;
}

/** Delete many keys atomically (absent keys are ignored). */
export interface DelCommand {
  op: "del";
  keys: string[];
}

/** Compare-and-swap on one key: if its value equals `expect` (null = absent), store `value` or delete it. */
export type CasCommand =
  | { op: "cas"; key: string; expect: JsonValue; value: JsonValue }
  | { op: "cas"; key: string; expect: JsonValue; del: true };

/** A state machine command. */
export type Command = SetCommand | DelCommand | CasCommand;

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

// With the u flag a surrogate pair is one code point, so only lone surrogates match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Outcome of validating input: the command, or a stable code and a message for the client. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; error: string };

/** Checks one key; returns a message saying what is wrong, or undefined when valid. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== "string") return "key must be a string";
  if (key.length === 0) return "key must not be empty";
  // Lone surrogates would collapse to U+FFFD in UTF-8 and make two keys one.
  if (LONE_SURROGATE.test(key)) return "key must be well-formed Unicode";
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) return `key is ${bytes} bytes, the limit is ${MAX_KEY_BYTES}`;
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(code: ErrorCode, error: string): Parsed<never> {
  return { ok: false, code, error };
}

/** Validates an already-parsed JSON value as a command. */
export function toCommand(v: unknown): Parsed<Command> {
  if (!isObject(v)) return bad("BAD_BODY", "command must be a JSON object");
  switch (v.op) {
    case "set": {
      if (!isObject(v.kv)) return bad("BAD_BODY", "set: `kv` must be an object of key → value");
      for (const [k, val] of Object.entries(v.kv)) {
        const p = keyProblem(k);
        if (p) return bad("BAD_KEY", p);
        if (val === null) return bad("BAD_BODY", `set: value of ${JSON.stringify(k)} is null; delete the key instead`);
      }
      return { ok: true, value: { op: "set", kv: v.kv as Record<string, JsonValue> } };
    }
    case "del": {
      if (!Array.isArray(v.keys)) return bad("BAD_BODY", "del: `keys` must be an array of strings");
      for (const k of v.keys) {
        const p = keyProblem(k);
        if (p) return bad("BAD_KEY", p);
      }
      return { ok: true, value: { op: "del", keys: v.keys as string[] } };
    }
    case "cas": {
      const p = keyProblem(v.key);
      if (p) return bad("BAD_KEY", p);
      const key = v.key as string;
      if (!("expect" in v) || v.expect === undefined)
        return bad("BAD_BODY", "cas: `expect` is required (null = absent)");
      const expect = v.expect as JsonValue;
      const hasValue = "value" in v && v.value !== undefined;
      if (v.del !== undefined && v.del !== true) return bad("BAD_BODY", "cas: `del` may only be true");
      if (hasValue === (v.del === true)) return bad("BAD_BODY", "cas: give exactly one of `value` or `del: true`");
      if (v.del === true) return { ok: true, value: { op: "cas", key, expect, del: true } };
      if (v.value === null) return bad("BAD_BODY", "cas: `value` must not be null; use `del: true`");
      return { ok: true, value: { op: "cas", key, expect, value: v.value as JsonValue } };
    }
    default:
      return bad("BAD_BODY", "command `op` must be one of set, del, cas");
  }
}

/** Parses and validates the JSON text of a command (an entry's `data`). */
export function parseCommand(text: string): Parsed<Command> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad("BAD_JSON", "command is not valid JSON");
  }
  return toCommand(v);
}

/** The text to put in a `normal` entry's `data`. */
export function encodeCommand(c: Command): string {
  return JSON.stringify(c);
}

/** Structural equality of JSON values; object key order does not matter. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i] as JsonValue));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k] as JsonValue, b[k] as JsonValue));
}
