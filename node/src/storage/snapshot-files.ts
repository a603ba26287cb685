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
  return { ref: { file: fileName(index, crc), bytes: bytes.length, crc }, bytes };
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

/** Characters encoded and written at a time when a snapshot is written ahead (see writeSnapshotText). */
export const SLICE_CHARS = 4 * 1024 * 1024;

/** The name of the file holding snapshot `index` whose bytes have CRC32 `crc`. */
function fileName(index: number, crc: number): string {
  return `${index}-${crc.toString(16).padStart(8, "0")}.snap`;
}

/** Fsyncs a directory (a rename in it is durable after this). */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Writes `data` as the file of snapshot `index` durably, as writeSnapshotFile does, but in slices of
 * SLICE_CHARS: encoding, CRC32 and writes take turns with the event loop, where encoding a 200 MB
 * snapshot at once held it for a second or more (and the leader lost its followers). Each name the write
 * creates (`tmp`, then the final one before the rename) is pushed to `names` first, for cleanups to spare.
 */
export async function writeSnapshotText(
  storeDir: string,
  index: number,
  data: string,
  tmp: string,
  names: string[],
): Promise<SnapshotFileRef> {
  const dir = join(storeDir, SNAPSHOT_DIR);
  await mkdir(dir, { recursive: true });
  names.push(tmp);
  const fh = await open(join(dir, tmp), "w");
  let crc = 0;
  let bytes = 0;
  try {
    for (let at = 0; at < data.length; ) {
      let end = Math.min(data.length, at + SLICE_CHARS);
      // Never split a surrogate pair: each half alone would be written as U+FFFD.
      const last = data.charCodeAt(end - 1);
      if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
      const buf = Buffer.from(data.slice(at, end), "utf8");
      crc = crc32(buf, crc);
      bytes += buf.length;
      await fh.write(buf);
      at = end;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const ref = { file: fileName(index, crc), bytes, crc };
  names.push(ref.file);
  await rename(join(dir, tmp), join(dir, ref.file));
  await syncDir(dir);
  return ref;
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
  await syncDir(dir);
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

/**
 * Removes every snapshot file (and leftover temporary file) except those `keep` holds; errors are ignored.
 * A function is asked about each listed name after the listing, so names created meanwhile can be spared.
 */
export async function removeSnapshotFilesExcept(
  storeDir: string,
  keep: ReadonlySet<string> | ((name: string) => boolean),
): Promise<void> {
  const kept = typeof keep === "function" ? keep : (n: string) => keep.has(n);
  const dir = join(storeDir, SNAPSHOT_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (kept(n)) continue;
    await rm(join(dir, n), { force: true }).catch(() => {});
  }
}

/** A snapshot written ahead of its save: its reference once the file is durable. */
interface Prepared {
  index: number;
  data: string;
  ref: SnapshotFileRef | undefined;
  write: Promise<void>;
}

/**
 * The snapshot files of one store as it writes them: one written ahead of its save (prepare), and those
 * being written, which no cleanup may remove.
 */
export class SnapshotFiles {
  readonly #dir: string;
  /** The snapshot written ahead, with its reference once the file is durable. */
  #prepared: Prepared | undefined;
  /** The names each write in progress has created (temporary and final): no cleanup removes them. */
  readonly #writing = new Map<Promise<void>, string[]>();
  /** The file the store points to, as last committed. */
  #current: string | undefined;
  #seq = 0;

  /** The snapshot files of the store in `storeDir`. */
  constructor(storeDir: string) {
    this.#dir = storeDir;
  }

  /**
   * Writes the data of a coming snapshot at `index` ahead of its save, in slices (writeSnapshotText), so
   * the event loop keeps running however large it is; resolves once the file is durable.
   */
  prepare(index: number, data: string): Promise<void> {
    const names: string[] = [];
    const entry: Prepared = { index, data, ref: undefined, write: Promise.resolve() };
    entry.write = this.#track(
      writeSnapshotText(this.#dir, index, data, `${index}-${++this.#seq}.ahead.tmp`, names).then((ref) => {
        entry.ref = ref;
      }),
      names,
    );
    this.#prepared = entry;
    // A failed one is not used: a save of this snapshot writes the file itself.
    entry.write.catch(() => {
      if (this.#prepared === entry) this.#prepared = undefined;
    });
    return entry.write;
  }

  /** The file a save of this snapshot points to, and its write (the prepared one when it matches). */
  forSave(index: number, data: string): { ref: SnapshotFileRef; write: Promise<void> } {
    const p = this.#prepared;
    // Snapshots are prepared before the core compacts, so a matching one is complete by its save.
    if (p?.ref && p.index === index && p.data === data) return { ref: p.ref, write: p.write };
    const { ref, bytes } = snapshotFileRef(index, data);
    return { ref, write: this.#track(writeSnapshotFile(this.#dir, ref, bytes), [`${ref.file}.tmp`, ref.file]) };
  }

  /** The store now points to `ref` (durably): every other file not being written goes, in the background. */
  committed(ref: SnapshotFileRef): void {
    if (this.#prepared?.ref?.file === ref.file) this.#prepared = undefined;
    this.#current = ref.file;
    // What is spared now, and (asked again after the listing) whatever a write created or named since.
    const now = new Set([ref.file, ...[...this.#writing.values()].flat()]);
    if (this.#prepared?.ref) now.add(this.#prepared.ref.file);
    void removeSnapshotFilesExcept(this.#dir, (n) => now.has(n) || this.#spared(n));
  }

  /** Waits for a prepared write still running (before the store closes). */
  async settle(): Promise<void> {
    await this.#prepared?.write.catch(() => {});
  }

  #spared(name: string): boolean {
    if (name === this.#current || name === this.#prepared?.ref?.file) return true;
    for (const names of this.#writing.values()) if (names.includes(name)) return true;
    return false;
  }

  #track(w: Promise<void>, names: string[]): Promise<void> {
    this.#writing.set(w, names);
    const done = () => this.#writing.delete(w);
    void w.then(done, done);
    return w;
  }
}
