/**
 * What the server stores as a Raft snapshot's `data`: the address book and
 * the KV snapshot, as `raftkv-snap/1\n<book JSON>\n<kv data>`. A plain
 * prefix rather than one JSON document, so the (large) KV text is never
 * escaped into a JSON string.
 */

import type { MemberAddress } from "../membership-book.ts";

const MAGIC = "raftkv-snap/1\n";

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
