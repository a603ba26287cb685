/**
 * A set's writes as [key, value] pairs, read from JSON text without JSON.parse where the text is plain.
 *
 * JSON.parse of `{"op":"set","kv":{"<key>":…}}` builds an object whose property name is the user's key, so
 * V8 interns every key and makes a hidden class for every distinct one: with one write per key that was
 * about 5% of a member's CPU (perf, 64 clients; docs/benchmarks.md). This reader takes only the plainest
 * text (string keys and values without escapes or control characters, no white space, no repeated key)
 * and leaves anything else to JSON.parse, so it never reads a text differently from JSON.parse.
 */

import type { JsonValue } from "./command.ts";

/** Keys and values in text order. */
export type KvPairs = Array<[string, JsonValue]>;

/** How every set command's text starts (encodeCommand writes `op` first). */
export const SET_PREFIX = '{"op":"set","kv":';

/**
 * Reads a plain object of string values, `{"k":"v",…}`, starting at `from`. Undefined when the text there
 * is anything else (the caller then uses JSON.parse), including a key given twice.
 */
export function readPlainPairs(text: string, from: number): { pairs: KvPairs; end: number } | undefined {
  if (text.charCodeAt(from) !== 0x7b) return undefined;
  const pairs: KvPairs = [];
  let i = from + 1;
  if (text.charCodeAt(i) === 0x7d) return { pairs, end: i + 1 };
  for (;;) {
    const k = plainString(text, i);
    if (k === undefined || text.charCodeAt(k.end) !== 0x3a) return undefined;
    const v = plainString(text, k.end + 1);
    if (v === undefined) return undefined;
    pairs.push([k.value, v.value]);
    i = v.end;
    const c = text.charCodeAt(i);
    if (c === 0x7d) break;
    if (c !== 0x2c) return undefined;
    i++;
  }
  // JSON.parse keeps the last of repeated keys: leave that (rare) case to it.
  if (pairs.length > 1 && new Set(pairs.map((p) => p[0])).size !== pairs.length) return undefined;
  return { pairs, end: i + 1 };
}

/** A JSON string at `i` with no escape and no control character (which JSON forbids unescaped). */
function plainString(text: string, i: number): { value: string; end: number } | undefined {
  if (text.charCodeAt(i) !== 0x22) return undefined;
  const close = text.indexOf('"', i + 1);
  if (close < 0) return undefined;
  for (let j = i + 1; j < close; j++) {
    const c = text.charCodeAt(j);
    if (c < 0x20 || c === 0x5c) return undefined;
  }
  return { value: text.slice(i + 1, close), end: close + 1 };
}

/** The text of a set command of these pairs: what encodeCommand writes for the object they make. */
export function encodeSetPairs(pairs: KvPairs): string {
  let text = `${SET_PREFIX}{`;
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i] as [string, JsonValue];
    text += `${i === 0 ? "" : ","}${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return `${text}}}`;
}

/** The pairs of a set command's text when it is plain (see readPlainPairs); undefined otherwise. */
export function plainSetPairs(text: string): KvPairs | undefined {
  if (!text.startsWith(SET_PREFIX)) return undefined;
  const r = readPlainPairs(text, SET_PREFIX.length);
  if (r === undefined || r.end !== text.length - 1 || text.charCodeAt(r.end) !== 0x7d) return undefined;
  return r.pairs;
}
