/**
 * Checks LevelDB's write-ahead logs (and MANIFEST, same format) before
 * LevelDB opens them. classic-level runs without paranoid_checks, so on
 * recovery LevelDB silently drops a damaged record and the rest of its block,
 * then deletes the log: synced, acknowledged Raft state (a vote, entries)
 * would vanish without a trace. We refuse when a damaged record is followed
 * by an intact one (damage in the middle); damage only at the end is a torn
 * last write, which was never acknowledged, and LevelDB may drop it.
 *
 * Format (leveldb/doc/log_format.md): 32 KiB blocks of records
 * `crc32c-masked(4, LE) | length(2, LE) | type(1) | data`, type 1..4;
 * fewer than 7 bytes left in a block are zero padding.
 */

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { corruptStore } from "./open-level.ts";

const BLOCK = 32768;
const HEADER = 7;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of buf[start, end), LevelDB-masked. */
function maskedCrc32c(buf: Buffer, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  c = (c ^ 0xffffffff) >>> 0;
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Whether an intact record starts at `pos` (ending within `blockEnd`). */
function intactAt(buf: Buffer, pos: number, blockEnd: number): boolean {
  if (blockEnd - pos < HEADER) return false;
  const type = buf[pos + 6] as number;
  const len = buf.readUInt16LE(pos + 4);
  if (type < 1 || type > 4 || pos + HEADER + len > blockEnd) return false;
  return buf.readUInt32LE(pos) === maskedCrc32c(buf, pos + 6, pos + HEADER + len);
}

/** Byte offset of a damaged record that intact records follow, or undefined when the log is sound. */
export function findMidLogDamage(buf: Buffer): number | undefined {
  let damagedAt: number | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const blockEnd = Math.min(pos - (pos % BLOCK) + BLOCK, buf.length);
    if (blockEnd - pos < HEADER) {
      pos = blockEnd;
      continue;
    }
    const len = buf.readUInt16LE(pos + 4);
    const type = buf[pos + 6] as number;
    if (type === 0 && len === 0) {
      // Zero padding (preallocation); LevelDB skips the rest of the block.
      pos = blockEnd;
      continue;
    }
    if (intactAt(buf, pos, blockEnd)) {
      if (damagedAt !== undefined) return damagedAt;
      pos += HEADER + len;
      continue;
    }
    // A record running past the end of the file is a torn last write.
    if (blockEnd === buf.length && pos + HEADER + len > buf.length && damagedAt === undefined) return undefined;
    damagedAt ??= pos;
    // The length may be what was damaged: look for any intact record later in this block.
    for (let p = pos + 1; p + HEADER <= blockEnd; p++) if (intactAt(buf, p, blockEnd)) return damagedAt;
    pos = blockEnd;
  }
  return undefined;
}

/** Throws a StorageError when any write-ahead log or MANIFEST in `dir` is damaged in the middle. */
export async function checkLogs(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // No directory yet: nothing to check.
  }
  for (const name of names.filter((n) => /^(\d+\.log|MANIFEST-\d+)$/.test(n))) {
    const at = findMidLogDamage(await readFile(join(dir, name)));
    if (at !== undefined) {
      throw corruptStore(
        dir,
        `${name} is damaged at byte ${at} and intact records follow (LevelDB would silently drop acknowledged writes)`,
      );
    }
  }
}
