/**
 * What the server stores as a Raft snapshot's `data`: the address book and
 * the KV snapshot, as `raftkv-snap/1\n<book JSON>\n<kv data>`. A plain
 * prefix rather than one JSON document, so the (large) KV text is never
 * escaped into a JSON string.
 *
 * A local snapshot (Snapshot.local: the KV state is the node's own LevelDB)
 * is `raftkv-snap-local/1\n<book JSON>\n`: it has no KV part, and
 * `unwrapSnapshot` refuses it, so it can never be restored as a leader's.
 */

import type { MemberAddress } from "../membership-book.ts";

const MAGIC = "raftkv-snap/1\n";
const LOCAL_MAGIC = "raftkv-snap-local/1\n";

/** The two parts of a snapshot. */
export interface SnapshotParts {
  book: Record<string, MemberAddress>;
  kv: string;
}

/** Joins the parts into snapshot data. */
export function wrapSnapshot(p: SnapshotParts): string {
  return `${MAGIC}${JSON.stringify(p.book)}\n${p.kv}`;
}

/** Splits snapshot data; throws with a clear message when it is not ours. */
export function unwrapSnapshot(data: string): SnapshotParts {
  if (!data.startsWith(MAGIC)) throw new Error("snapshot data does not start with raftkv-snap/1");
  const nl = data.indexOf("\n", MAGIC.length);
  if (nl < 0) throw new Error("snapshot data has no address book line");
  const book = JSON.parse(data.slice(MAGIC.length, nl)) as Record<string, MemberAddress>;
  return { book, kv: data.slice(nl + 1) };
}

/** The data of a local snapshot: the address book only. */
export function wrapLocalSnapshot(book: Record<string, MemberAddress>): string {
  return `${LOCAL_MAGIC}${JSON.stringify(book)}\n`;
}

/** The address book of a local snapshot's data; undefined when the data is a full snapshot's. */
export function localSnapshotBook(data: string): Record<string, MemberAddress> | undefined {
  if (!data.startsWith(LOCAL_MAGIC)) return undefined;
  const nl = data.indexOf("\n", LOCAL_MAGIC.length);
  if (nl < 0) throw new Error("local snapshot data has no address book line");
  return JSON.parse(data.slice(LOCAL_MAGIC.length, nl)) as Record<string, MemberAddress>;
}
