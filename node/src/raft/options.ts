import type { NodeId } from "./types.ts";

/**
 * Test-only switches that each break one Raft rule. The simulator must catch
 * every one of them; production code never sets them.
 */
export interface PlantedBugs {
  /** Grant votes without the §5.4.1 up-to-date check. */
  voteWithoutLogCheck?: boolean;
  /** Commit entries of earlier terms by counting replicas (§5.4.2, Figure 8). */
  commitPrevTermByCount?: boolean;
  /** Never step down when a quorum has gone silent (lease reads become stale). */
  noCheckQuorumStepDown?: boolean;
  /** Count votes and acknowledgements from any incarnation (a wiped disk votes again). */
  ignoreIncarnation?: boolean;
}

/** How a core behaves; only `id` and `seed` have no default. */
export interface CoreOptions {
  id: NodeId;
  /** Seeds the randomized election timeout. */
  seed: number;
  /** Base election timeout; each wait is drawn from [electionTicks, 2*electionTicks). */
  electionTicks?: number;
  /** Ticks between heartbeats; must be smaller than electionTicks. */
  heartbeatTicks?: number;
  /** Ask for pre-votes before raising the term (thesis §9.6). */
  preVote?: boolean;
  /** Leaders step down when a quorum is silent; followers with a live leader ignore votes. */
  checkQuorum?: boolean;
  /** Serve reads from the leader's lease instead of a heartbeat round; needs checkQuorum. */
  leaseRead?: boolean;
  /** Most entries in one append message. */
  maxEntriesPerMsg?: number;
  /** Most append messages in flight to one follower. */
  maxInflight?: number;
  /** Characters of snapshot data per snapshot message. */
  snapshotChunkSize?: number;
  /**
   * Entries kept in memory behind a snapshot, so a follower that just
   * installed a snapshot can catch up from the log instead of needing the next
   * snapshot (etcd's SnapshotCatchUpEntries).
   */
  catchUpEntries?: number;
  bugs?: PlantedBugs;
}

/** CoreOptions with every default filled in. */
export type ResolvedOptions = Required<Omit<CoreOptions, "bugs">> & { bugs: PlantedBugs };

/** Fills in defaults and rejects impossible combinations. */
export function resolveOptions(o: CoreOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    id: o.id,
    seed: o.seed,
    electionTicks: o.electionTicks ?? 10,
    heartbeatTicks: o.heartbeatTicks ?? 1,
    preVote: o.preVote ?? true,
    checkQuorum: o.checkQuorum ?? true,
    leaseRead: o.leaseRead ?? false,
    maxEntriesPerMsg: o.maxEntriesPerMsg ?? 256,
    maxInflight: o.maxInflight ?? 16,
    snapshotChunkSize: o.snapshotChunkSize ?? 512 * 1024,
    catchUpEntries: o.catchUpEntries ?? 1000,
    bugs: o.bugs ?? {},
  };
  if (!r.id) throw new Error("raft: id must not be empty");
  if (r.heartbeatTicks < 1 || r.electionTicks <= r.heartbeatTicks) {
    throw new Error("raft: need 1 <= heartbeatTicks < electionTicks");
  }
  if (r.leaseRead && !r.checkQuorum) throw new Error("raft: leaseRead needs checkQuorum");
  if (r.maxInflight < 1 || r.maxEntriesPerMsg < 1 || r.snapshotChunkSize < 1 || r.catchUpEntries < 0) {
    throw new Error("raft: maxInflight, maxEntriesPerMsg, snapshotChunkSize and catchUpEntries must be positive");
  }
  return r;
}
