/** The body of `POST /key`: a JSON object of key → value writes, every key and value checked. */

import { keyProblem } from "../kv/command.ts";
import { type KvPairs, readPlainPairs } from "../kv/set-pairs.ts";
import { parseJsonObject } from "./body.ts";
import { ApiFailure } from "./failure.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The writes in a raw `POST /key` body, in order: BAD_JSON, BAD_BODY or BAD_KEY when it is not a valid set
 * of writes. A plain body (string values, no escapes or white space: set-pairs.ts) is read without JSON.parse,
 * so no object is keyed by the user's keys; any other body, or one with a bad key, goes through parseJson
 * and gets exactly its answer.
 */
export function parseWrites(raw: Buffer): KvPairs {
  const plain = plainWrites(raw);
  if (plain) return plain;
  const kv = parseJsonObject(raw, "the body of POST /key");
  for (const [k, v] of Object.entries(kv)) {
    const problem = keyProblem(k);
    if (problem) throw new ApiFailure("BAD_KEY", `${JSON.stringify(k.slice(0, 64))}: ${problem}`);
    if (v === null) throw new ApiFailure("BAD_BODY", `the value of ${JSON.stringify(k)} is null; delete the key`);
  }
  return Object.entries(kv) as KvPairs;
}

function plainWrites(raw: Buffer): KvPairs | undefined {
  // Invalid UTF-8 and a BOM are parseJson's to answer or drop.
  if (raw[0] !== 0x7b) return undefined;
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return undefined;
  }
  const r = readPlainPairs(text, 0);
  if (r === undefined || r.end !== text.length) return undefined;
  for (const [k] of r.pairs) if (keyProblem(k) !== undefined) return undefined;
  return r.pairs;
}
