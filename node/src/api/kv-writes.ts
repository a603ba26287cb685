/** The body of `POST /key`: a JSON object of key → value writes, every key and value checked. */

import { type JsonValue, keyProblem } from "../kv/command.ts";
import { parseJsonObject } from "./body.ts";
import { ApiFailure } from "./failure.ts";

/** The writes in a raw `POST /key` body: BAD_JSON, BAD_BODY or BAD_KEY when it is not a valid set of writes. */
export function parseWrites(raw: Buffer): Record<string, JsonValue> {
  const kv = parseJsonObject(raw, "the body of POST /key");
  for (const [k, v] of Object.entries(kv)) {
    const problem = keyProblem(k);
    if (problem) throw new ApiFailure("BAD_KEY", `${JSON.stringify(k.slice(0, 64))}: ${problem}`);
    if (v === null) throw new ApiFailure("BAD_BODY", `the value of ${JSON.stringify(k)} is null; delete the key`);
  }
  return kv as Record<string, JsonValue>;
}
