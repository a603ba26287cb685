import { RaftCore } from "../../node/src/raft/core.ts";
import type { CoreOptions } from "../../node/src/raft/options.ts";
import type { Entry, Message, NodeId, PersistedState, ReadState, Ready } from "../../node/src/raft/types.ts";

/** A command of the simulated key-value state machine. */
export interface SimCommand {
  key: string;
  value: string;
}

/** Hooks the node calls so the checker sees every side effect as it happens. */
export interface NodeObserver {
  applied(node: SimNode, e: Entry): void;
  readReady(node: SimNode, rs: ReadState): void;
  persisted(node: SimNode): void;
}

/**
 * One simulated server: a RaftCore, a "disk" that survives crashes (and is
 * lost when wiped), and a key-value state machine rebuilt from the disk on
 * restart. Ready batches are handled exactly as the persistence contract says,
 * unless the planted bug `replyBeforePersist` is on.
 */
export class SimNode {
  core: RaftCore | undefined;
  disk: PersistedState;
  kv = new Map<string, string>();
  applied = 0;
  restarts = 0;
  /** Asked after each Ready is persisted; true crashes the node before it sends anything. */
  failpoint: ((node: SimNode, rd: Ready, prevCommit: number) => boolean) | undefined;
  /**
   * Asked after a leader sent a Ready's `sendBeforePersist` messages and before its write; true crashes
   * the node there: followers may hold entries the leader's disk never got.
   */
  failpointBeforePersist: ((node: SimNode, rd: Ready) => boolean) | undefined;
  /** With replyBeforePersist: the writes of the last Ready, done one tick late. */
  private lagging: Ready[] = [];
  readonly id: NodeId;
  private readonly options: () => CoreOptions;
  private readonly observer: NodeObserver;
  private readonly replyBeforePersist: boolean;

  /** A node whose disk starts as `disk`; `options` is asked afresh at every start. */
  constructor(
    id: NodeId,
    disk: PersistedState,
    options: () => CoreOptions,
    observer: NodeObserver,
    replyBeforePersist: boolean,
  ) {
    this.id = id;
    this.disk = disk;
    this.options = options;
    this.observer = observer;
    this.replyBeforePersist = replyBeforePersist;
  }

  /** True while the process runs. */
  get up(): boolean {
    return this.core !== undefined;
  }

  /** Starts the process from what the disk holds. */
  start(): void {
    const d = this.disk;
    this.kv = d.snapshot ? new Map(JSON.parse(d.snapshot.data) as [string, string][]) : new Map();
    this.applied = d.snapshot?.meta.index ?? 0;
    this.core = new RaftCore(this.options(), {
      incarnation: d.incarnation,
      hardState: { ...d.hardState },
      entries: d.entries.slice(),
      ...(d.snapshot ? { snapshot: d.snapshot } : {}),
    });
  }

  /** Kills the process: everything not on disk is gone. */
  crash(): void {
    this.core = undefined;
    this.lagging = [];
    this.restarts++;
  }

  /** Kills the process and replaces the disk with a blank one under a new incarnation. */
  wipe(incarnation: string): void {
    this.crash();
    this.disk = RaftCore.blank(incarnation);
  }

  /** Drains every Ready: persist, send, apply, advance. Returns the messages to put on the wire. */
  process(): Message[] {
    const out: Message[] = [];
    const core = this.core;
    if (!core) return out;
    if (this.lagging.length > 0) {
      for (const rd of this.lagging) this.persist(rd);
      this.lagging = [];
    }
    for (let guard = 0; guard < 100 && core.hasReady(); guard++) {
      const rd = core.ready();
      const prevCommit = this.disk.hardState.commit;
      // The leader's replication messages leave before its own write (thesis §10.2.1).
      const early = rd.sendBeforePersist;
      if (early) {
        for (const m of early) out.push(m);
        if (this.failpointBeforePersist?.(this, rd)) {
          this.crash();
          return out;
        }
      }
      if (this.replyBeforePersist && (rd.entries.length > 0 || rd.hardState)) this.lagging.push(rd);
      else this.persist(rd);
      if (this.failpoint?.(this, rd, prevCommit)) {
        // Crash after the write and before any message leaves (etcd's raftAfterSave failpoint).
        this.crash();
        return [];
      }
      if (early) {
        const sent = new Set(early);
        for (const m of rd.messages) if (!sent.has(m)) out.push(m);
      } else for (const m of rd.messages) out.push(m);
      if (rd.snapshot && rd.snapshotRestore) {
        this.kv = new Map(JSON.parse(rd.snapshot.data) as [string, string][]);
        this.applied = rd.snapshot.meta.index;
      }
      for (const e of rd.committed) {
        if (e.index <= this.applied) continue;
        if (e.type === "normal") {
          const c = JSON.parse(e.data) as SimCommand;
          this.kv.set(c.key, c.value);
        }
        this.applied = e.index;
        this.observer.applied(this, e);
      }
      for (const rs of rd.readStates) this.observer.readReady(this, rs);
      core.advance(rd);
    }
    return out;
  }

  /** Snapshots the state machine at the applied index and lets the core compact its log. */
  compact(): void {
    const core = this.core;
    if (!core || this.applied <= (core.snapshot?.meta.index ?? 0)) return;
    core.compact(this.applied, JSON.stringify([...this.kv]));
  }

  private persist(rd: Ready): void {
    const d = this.disk;
    if (rd.snapshot) {
      const idx = rd.snapshot.meta.index;
      d.snapshot = rd.snapshot;
      d.entries = rd.snapshotRestore ? [] : d.entries.filter((e) => e.index > idx);
    }
    const first = rd.entries[0];
    if (first) {
      d.entries = d.entries.filter((e) => e.index < first.index);
      for (const e of rd.entries) d.entries.push(e);
    }
    if (rd.hardState) d.hardState = { ...rd.hardState };
    this.observer.persisted(this);
  }
}
