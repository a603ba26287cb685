/**
 * Brings a restarted node's state machine and address book level with its
 * Raft state, without replaying the log from the beginning: the KV store
 * persists its applied index, so only a store that lost a snapshot restore
 * is rebuilt from the stored snapshot, and the book is the snapshot's book
 * plus the member entries between the snapshot and the applied index. A
 * local snapshot (no KV part) requires the KV store to be at or past it.
 */

import type { KvStore } from "../kv/kv-store.ts";
import type { Logger } from "../log.ts";
import { decodeMemberRecord, type MembershipBook } from "../membership-book.ts";
import type { PersistedState } from "../raft/types.ts";
import { corruptStore } from "../storage/open-level.ts";
import { localSnapshotBook, unwrapSnapshot } from "./snapshot-envelope.ts";

/** Restores what is needed and returns the state to build the core from (with `applied`). */
export async function recoverState(
  stored: PersistedState,
  kv: KvStore,
  book: MembershipBook,
  logger: Logger,
  dir = "STATE_DIR",
): Promise<PersistedState> {
  let state = stored;
  let snap = state.snapshot;
  const localBook = snap && localSnapshotBook(snap.data);
  if (snap && localBook) {
    // A local snapshot was taken only once the KV store had synced its state at the snapshot's index.
    if (kv.applied < snap.meta.index) {
      throw corruptStore(
        dir,
        `the log is compacted to index ${snap.meta.index} but the KV data reflects only index ${kv.applied}`,
      );
    }
    book.restore(localBook);
    snap = { ...snap, local: true };
    state = { ...state, snapshot: snap };
  } else if (snap) {
    const parts = unwrapSnapshot(snap.data);
    book.restore(parts.book);
    if (kv.applied < snap.meta.index) {
      logger.info("restoring the state machine from the stored snapshot", {
        index: snap.meta.index,
        applied: kv.applied,
      });
      await kv.restore(parts.kv, snap.meta.index);
    }
  }
  const applied = Math.min(kv.applied, state.hardState.commit);
  for (const e of state.entries) {
    if (e.index > applied) break;
    const rec = decodeMemberRecord(e);
    if (rec) book.apply(rec);
  }
  logger.info("resuming from stored state", {
    term: state.hardState.term,
    commit: state.hardState.commit,
    applied,
    snapshotIndex: snap?.meta.index ?? 0,
    lastIndex: state.entries.at(-1)?.index ?? snap?.meta.index ?? 0,
  });
  return { ...state, applied };
}
