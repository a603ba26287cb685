/**
 * Opens the node's LevelDB without ever creating an empty database over a
 * damaged one: LevelDB's create_if_missing would happily start afresh in a
 * directory whose CURRENT file was lost, so creation is only allowed when the
 * directory holds no LevelDB file at all.
 */

import { mkdir, readdir } from "node:fs/promises";
import { Level } from "level";

/** The database handle shared by the log store and the KV store: Buffer keys, framed string values. */
export type RawDb = Level<Buffer, string>;

/** Why storage failed: damaged data, another process holds it, a full disk, or another I/O error. */
export type StorageErrorCode = "CORRUPT" | "LOCKED" | "NO_SPACE" | "IO";

/** Storage could not be opened, read or written; the message names the directory and says what to do. */
export class StorageError extends Error {
  override name = "StorageError";
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** A StorageError for a failed read or write, classified from LevelDB's message. */
export function ioError(dir: string, action: string, cause: unknown): StorageError {
  const inner = (cause as Error).cause instanceof Error ? ((cause as Error).cause as Error) : (cause as Error);
  const msg = inner?.message ?? String(cause);
  if (/corrupt|checksum/i.test(msg)) return corruptStore(dir, `${action} failed (${msg})`, cause);
  const code: StorageErrorCode = /no space|ENOSPC/i.test(msg) ? "NO_SPACE" : "IO";
  return new StorageError(code, `raftkv storage at ${dir}: ${action} failed: ${msg}`, { cause });
}

const failures = new WeakMap<RawDb, StorageError>();

/**
 * Records that a write to `db` failed. LevelDB itself accepts later writes
 * after a failed one (only a failed sync stops it), but the failed record may
 * sit torn in its write-ahead log; a record written after it would turn that
 * harmless torn tail into damage in the middle of the log, which open()
 * refuses (wal-check.ts). So after the first failure neither store writes
 * again until the database is closed and reopened.
 */
export function poisonDb(db: RawDb, e: StorageError): void {
  if (!failures.has(db)) failures.set(db, e);
}

/** The failure that stopped writes to `db`, if any (see poisonDb). */
export function dbFailure(db: RawDb): StorageError | undefined {
  return failures.get(db);
}

/** Whether an error (a StorageError, LevelDB's, or fs's) says the disk is full. */
export function isNoSpace(e: unknown): boolean {
  if (e instanceof StorageError) return e.code === "NO_SPACE";
  const inner = (e as Error | undefined)?.cause instanceof Error ? ((e as Error).cause as Error) : (e as Error);
  return (e as NodeJS.ErrnoException | undefined)?.code === "ENOSPC" || /no space|ENOSPC/i.test(inner?.message ?? "");
}

const LEVEL_FILE = /^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(log|ldb|sst))$/;

/** The standard advice appended to corruption errors. */
export const CORRUPTION_ADVICE =
  "the node refuses to start rather than lose acknowledged writes; restore the directory from a backup, " +
  "or move it away so the node rejoins as a new member (with a new incarnation)";

/** A StorageError for a damaged store at `dir`. */
export function corruptStore(dir: string, what: string, cause?: unknown): StorageError {
  return new StorageError("CORRUPT", `raftkv storage at ${dir} is corrupt: ${what}; ${CORRUPTION_ADVICE}`, { cause });
}

/**
 * Opens the database at `dir`, creating it only when the directory holds no
 * LevelDB file and `mustExist` (a store marker was found) is false.
 */
export async function openLevel(dir: string, mustExist = false): Promise<RawDb> {
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir);
  // Other files (e.g. lost+found at a volume root) do not count as a database.
  const exists = mustExist || names.some((n) => LEVEL_FILE.test(n));
  const db: RawDb = new Level<Buffer, string>(dir, {
    keyEncoding: "buffer",
    valueEncoding: "utf8",
    createIfMissing: !exists,
  });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as Error).cause instanceof Error ? ((e as Error).cause as Error) : (e as Error);
    const msg = cause.message;
    if (/lock/i.test(msg) && !/corrupt/i.test(msg)) {
      throw new StorageError("LOCKED", `raftkv storage at ${dir} is in use by another process: ${msg}`, { cause: e });
    }
    if (exists && !names.includes("CURRENT")) throw corruptStore(dir, "the CURRENT file is missing", e);
    if (isNoSpace(e))
      throw new StorageError("NO_SPACE", `raftkv storage at ${dir} cannot be opened: ${msg}`, { cause: e });
    if (/^IO error/i.test(msg) && !/no such file/i.test(msg))
      throw new StorageError("IO", `raftkv storage at ${dir} cannot be opened: ${msg}`, { cause: e });
    throw corruptStore(dir, `LevelDB cannot open it (${msg})`, e);
  }
  return db;
}
