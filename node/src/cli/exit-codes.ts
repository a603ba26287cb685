/** Exit codes of the `raftkv` CLI; docs/errors.md renders this table. */

import type { ErrorCode } from "../errors.ts";

/** The exit codes and what each means. */
export const EXIT = {
  /** The command did what was asked. */
  OK: 0,
  /** The request failed: the server refused it (its `{error, code}` is printed) or could not be reached. */
  FAILED: 1,
  /** The command line is wrong; nothing was sent. */
  USAGE: 2,
  /** A definite "no": compare-and-set mismatch, key not found (`kv get`), unknown member. */
  NO: 3,
} as const;

/** Server error codes that exit with EXIT.NO instead of EXIT.FAILED. */
export const NO_CODES: readonly ErrorCode[] = ["CAS_MISMATCH", "KEY_NOT_FOUND", "UNKNOWN_MEMBER"];

/** One line per exit code, for --help and docs/errors.md. */
export const EXIT_DESCRIPTIONS: readonly [number, string][] = [
  [EXIT.OK, "success"],
  [EXIT.FAILED, "the request failed: the server's `{error, code}` is printed on stderr, or the node was unreachable"],
  [EXIT.USAGE, "usage error (unknown command or option, missing argument, invalid JSON value); nothing was sent"],
  [
    EXIT.NO,
    "a definite no: `kv get` found no key (prints `null`), `kv cas` mismatched (CAS_MISMATCH), or the member is unknown (UNKNOWN_MEMBER)",
  ],
];

/** The exit code for a server error code. */
export function exitFor(code: string | undefined): number {
  return NO_CODES.includes(code as ErrorCode) ? EXIT.NO : EXIT.FAILED;
}
