/**
 * TEST-ONLY failpoints of the run loop, set only by test/faults through the
 * environment; never set in production.
 */

import { readFileSync } from "node:fs";

/** TEST-ONLY: a planted bug for test/faults (see RaftNode's Ready handling). */
export const TEST_BUG_ACK_BEFORE_FSYNC = process.env.RAFTKV_TEST_BUG === "ackBeforeFsync";
/** TEST-ONLY slow-disk failpoint for test/faults: a file holding a delay in ms added before each save. */
export const TEST_FSYNC_DELAY_FILE = process.env.RAFTKV_TEST_FSYNC_DELAY_FILE;

/** TEST-ONLY: the delay TEST_FSYNC_DELAY_FILE asks for now (0 when the file is absent). */
export function testFsyncDelayMs(file: string): number {
  try {
    return Math.min(10_000, Math.max(0, Number.parseInt(readFileSync(file, "utf8"), 10) || 0));
  } catch {
    return 0;
  }
}
