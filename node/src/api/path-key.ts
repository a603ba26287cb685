/** The key a `/key/<key>` or `/cas/<key>` path names: percent-decoded and validated. */

import { keyProblem } from "../kv/command.ts";
import { ApiFailure } from "./failure.ts";

/** The key in `path` after `prefix` (percent-decoded), validated: BAD_KEY otherwise. */
export function keyInPath(path: string, prefix: string): string {
  let key: string;
  try {
    key = decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new ApiFailure("BAD_KEY", "the key in the path is not valid percent-encoded UTF-8");
  }
  const problem = keyProblem(key);
  if (problem) throw new ApiFailure("BAD_KEY", problem);
  return key;
}
