/**
 * Snapshot data in files of their own, next to the LevelDB that holds the Raft log. LevelDB writes one
 * batch at a time, so a snapshot of tens of MB stored as a LevelDB value held every log write (and the
 * run loop waiting on it) for 0.2–0.7 s; a file is written beside the database, before the batch that
 * points to it. The batch stores a reference (file name, byte length, CRC32), so a missing, short or
 * damaged file is found when the store opens.
 *
 * Each file is written to a temporary name, fsynced, renamed and its directory fsynced: a reference in a
 * synced batch therefore always names a complete, durable file. Files no reference names (older
 * snapshots, or one written just before a crash) are removed after the next snapshot and at open.
 */

import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { CorruptValueError } from "./codec.ts";

/** The subdirectory of the store that holds snapshot files. */
export const SNAPSHOT_DIR = "snapshots";

/** What the log store keeps in LevelDB about one snapshot file. */
export interface SnapshotFileRef {
  file: string;
  bytes: number;
  crc: number;
}

/** The reference of `data` for the snapshot at `index`: its name carries the CRC, so equal names mean equal bytes. */
export function snapshotFileRef(index: number, data: string): { ref: SnapshotFileRef; bytes: Buffer } {
  const bytes = Buffer.from(data, "utf8");
  const crc = crc32(bytes);
  return { ref: { file: `${index}-${crc.toString(16).padStart(8, "0")}.snap`, bytes: bytes.length, crc }, bytes };
}

/** A reference read back from the store, checked for shape; undefined when it is not one. */
export function asSnapshotFileRef(v: unknown): SnapshotFileRef | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const { file, bytes, crc } = v as Record<string, unknown>;
  if (typeof file !== "string" || !/^\d+-[0-9a-f]{8}\.snap$/.test(file)) return undefined;
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0) return undefined;
  if (typeof crc !== "number" || !Number.isSafeInteger(crc) || crc < 0) return undefined;
  return { file, bytes, crc };
}

/** Writes the file durably (temporary name, fsync, rename, directory fsync). */
export async function writeSnapshotFile(storeDir: string, ref: SnapshotFileRef, bytes: Buffer): Promise<void> {
  const dir = join(storeDir, SNAPSHOT_DIR);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${ref.file}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, ref.file));
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Reads and checks a referenced file; CorruptValueError when it is missing, short or damaged. */
export async function readSnapshotFile(storeDir: string, ref: SnapshotFileRef): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(storeDir, SNAPSHOT_DIR, ref.file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new CorruptValueError(`snapshot file ${SNAPSHOT_DIR}/${ref.file} is missing`);
    }
    throw e;
  }
  if (bytes.length !== ref.bytes || crc32(bytes) !== ref.crc) {
    throw new CorruptValueError(
      `snapshot file ${SNAPSHOT_DIR}/${ref.file} is damaged (${bytes.length} bytes, ${ref.bytes} expected, or its CRC differs)`,
    );
  }
  return bytes.toString("utf8");
}

/** Removes every snapshot file (and leftover temporary file) except `keep`; errors are ignored. */
export async function removeSnapshotFilesExcept(storeDir: string, keep: ReadonlySet<string>): Promise<void> {
  const dir = join(storeDir, SNAPSHOT_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (keep.has(n)) continue;
    await rm(join(dir, n), { force: true }).catch(() => {});
  }
}

/**
 * The snapshot files of one store as it writes them: one written ahead of its save (prepare), and those
 * being written, which no cleanup may remove.
 */
export class SnapshotFiles {
  readonly #dir: string;
  #prepared: { index: number; data: string; ref: SnapshotFileRef; write: Promise<void> } | undefined;
  readonly #writing = new Map<Promise<void>, string>();

  /** The snapshot files of the store in `storeDir`. */
  constructor(storeDir: string) {
    this.#dir = storeDir;
  }

  /** Writes the data of a coming snapshot at `index` ahead of its save; resolves once it is durable. */
  prepare(index: number, data: string): Promise<void> {
    const { ref, bytes } = snapshotFileRef(index, data);
    const write = this.#write(ref, bytes);
    this.#prepared = { index, data, ref, write };
    // A failed one is not used: a save of this snapshot writes the file itself.
    write.catch(() => {
      if (this.#prepared?.write === write) this.#prepared = undefined;
    });
    return write;
  }

  /** The file a save of this snapshot points to, and its write (the prepared one when it matches). */
  forSave(index: number, data: string): { ref: SnapshotFileRef; write: Promise<void> } {
    const p = this.#prepared;
    if (p && p.index === index && p.data === data) return { ref: p.ref, write: p.write };
    const { ref, bytes } = snapshotFileRef(index, data);
    return { ref, write: this.#write(ref, bytes) };
  }

  /** The store now points to `ref` (durably): every other file not being written goes, in the background. */
  committed(ref: SnapshotFileRef): void {
    if (this.#prepared?.ref.file === ref.file) this.#prepared = undefined;
    const keep = new Set<string>();
    for (const n of [ref.file, this.#prepared?.ref.file, ...this.#writing.values()]) {
      if (n) keep.add(n).add(`${n}.tmp`);
    }
    void removeSnapshotFilesExcept(this.#dir, keep);
  }

  /** Waits for a prepared write still running (before the store closes). */
  async settle(): Promise<void> {
    await this.#prepared?.write.catch(() => {});
  }

  #write(ref: SnapshotFileRef, bytes: Buffer): Promise<void> {
    const w = writeSnapshotFile(this.#dir, ref, bytes);
    this.#writing.set(w, ref.file);
    const done = () => this.#writing.delete(w);
    void w.then(done, done);
    return w;
  }
}
