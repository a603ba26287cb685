/**
 * A small file beside the LevelDB files recording which store lives in the
 * directory. LevelDB opens a database whose MANIFEST lost its records as a
 * valid *empty* one; without this witness such a store would look brand new
 * and the node would mint a fresh incarnation over acknowledged data.
 *
 * It also holds the store's durable high-water mark (`commit`, `term`,
 * `vote`), written by LeveldbLogStore outside LevelDB: LevelDB opens a store
 * whose write-ahead log was truncated or deleted without complaint, silently
 * dropping synced, acknowledged state; the mark lets open() notice (see
 * checkHighWater in leveldb-log-store.ts).
 */

import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { corruptStore } from "./open-level.ts";

/** The marker's file name in the state directory. */
export const MARKER_FILE = "RAFTKV-STORE.json";

/** What the marker records. */
export interface StoreMarker {
  format: number;
  incarnation: string;
  /**
   * High-water mark: a hard state that was durable in LevelDB when the marker
   * was written. The commit index and term never decrease, so the store must
   * never load lower ones. Absent (0 / "") in markers of older builds.
   */
  commit?: number;
  term?: number;
  /** The vote cast in `term` ("" for none); within one term it never changes. */
  vote?: string;
}

const isIndex = (v: unknown) => v === undefined || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0);

/** Reads the marker; undefined when absent, StorageError when unreadable. */
export async function readMarker(dir: string): Promise<StoreMarker | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MARKER_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw corruptStore(dir, `${MARKER_FILE} cannot be read (${(e as Error).message})`, e);
  }
  try {
    const m = JSON.parse(text) as Partial<StoreMarker>;
    if (
      typeof m.format === "number" &&
      typeof m.incarnation === "string" &&
      m.incarnation !== "" &&
      isIndex(m.commit) &&
      isIndex(m.term) &&
      (m.vote === undefined || typeof m.vote === "string")
    ) {
      const out: StoreMarker = { format: m.format, incarnation: m.incarnation };
      if (m.commit !== undefined) out.commit = m.commit;
      if (m.term !== undefined) out.term = m.term;
      if (m.vote !== undefined) out.vote = m.vote;
      return out;
    }
  } catch {
    // Reported below.
  }
  throw corruptStore(dir, `${MARKER_FILE} is damaged`);
}

/** Writes the marker durably: temp file, fsync, rename, fsync the directory. */
export async function writeMarker(dir: string, marker: StoreMarker): Promise<void> {
  const path = join(dir, MARKER_FILE);
  const tmp = `${path}.tmp`;
  const f = await open(tmp, "w");
  try {
    await f.writeFile(`${JSON.stringify(marker)}\n`);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
