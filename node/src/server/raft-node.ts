/**
 * The run loop that drives one RaftCore: the value path
 * propose → core → Ready → storage (sync) → transport → commit → KV apply → waiters.
 *
 * Everything that touches the core goes through one queue and is stepped by
 * `#cycle()`; between `ready()` and `advance()` nothing may call the core, so
 * inputs that arrive while a Ready is being persisted wait for the next cycle
 * and share its fsync (group commit). Time enters as ticks derived from the
 * wall clock, so after a stall (GC, SIGSTOP) the missed ticks are fed first
 * and check-quorum sees the real elapsed time.
 */

import { NodeError } from "../api/kv-node.ts";
import type { ApplyResult, KvStore } from "../kv/kv-store.ts";
import { decodeSnapshot } from "../kv/snapshot-format.ts";
import type { Logger } from "../log.ts";
import { encodeMemberRecord, type MemberAddress, type MembershipBook } from "../membership-book.ts";
import { metrics, setRaftGaugeSource } from "../metrics.ts";
import { RaftCore } from "../raft/core.ts";
import type { CoreOptions } from "../raft/options.ts";
import type { ConfChange, Message, Outcome, PersistedState, Ready, SoftState } from "../raft/types.ts";
import type { LogStore } from "../storage/log-store.ts";
import type { RaftTransport } from "../transport/raft-transport.ts";
import { ApplyPipeline } from "./apply-pipeline.ts";
import { fatalOnCorrupt } from "./fatal-on-corrupt.ts";
import { updateRaftGauges } from "./raft-gauges.ts";
import { ReadBatcher } from "./read-batcher.ts";
import { notLeader, refusalError } from "./refusals.ts";
import { unwrapSnapshot } from "./snapshot-envelope.ts";
import { SnapshotMaker } from "./snapshot-maker.ts";
import { TEST_BUG_ACK_BEFORE_FSYNC, TEST_FSYNC_DELAY_FILE, testFsyncDelayMs } from "./test-failpoints.ts";
import { AppliedWaiters, ProposalWaiters } from "./waiters.ts";

/** How long a commit-index-only hard state may wait for a write to ride along with. */
const LAZY_COMMIT_MS = 100;
/** The committed series, bound once: a labelled inc() hashes its labels on every call (one per write). */
const proposalsCommitted = metrics.proposals.labels({ result: "committed" });
/** Everything a RaftNode runs on. */
export interface RaftNodeDeps {
  core: CoreOptions;
  persisted: PersistedState;
  log: LogStore;
  kv: KvStore;
  book: MembershipBook;
  transport: RaftTransport;
  logger: Logger;
  tickMs: number;
  /** Applied entries since the last snapshot that trigger a new one. */
  snapshotThreshold: number;
  /**
   * A snapshot also waits until the entries applied since the last one add up to this many times that
   * snapshot's size (0 or absent: no wait), so building snapshots costs at most 1/ratio of the bytes written.
   */
  snapshotLogRatio?: number;
  /** Entry bytes applied since the last snapshot after which the ratio no longer holds a snapshot back. */
  snapshotMaxLogBytes?: number;
  /** How long a proposal or read may wait before UNAVAILABLE. */
  requestTimeoutMs: number;
  /** Called once when the node cannot go on (storage failed, invariant broken); the process should exit. */
  onFatal: (err: Error) => void;
  /** True while STATE_DIR's free space is below the reserve (storage/disk-guard.ts); absent = never. */
  diskLow?: () => boolean;
}

/** One running Raft member with its storage, state machine and transport. */
export class RaftNode {
  readonly id: string;
  readonly core: RaftCore;
  readonly book: MembershipBook;
  readonly kv: KvStore;
  readonly #d: RaftNodeDeps;
  readonly #log: Logger;
  /** Work for the next cycle: each closure calls the core. */
  #inputs: Array<() => void> = [];
  #inbox: Message[] = [];
  readonly #reads: ReadBatcher;
  readonly proposals = new ProposalWaiters();
  readonly #appliedWaiters = new AppliedWaiters();
  /** The applies behind the loop (apply-pipeline.ts). */
  readonly #applies: ApplyPipeline;
  #dirty = false;
  #wake: (() => void) | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #tickBase = 0;
  #ticks = 0;
  /** Makes snapshots when they are due (snapshot-maker.ts). */
  readonly #snapshots: SnapshotMaker;
  /** A commit-index-only hard state not written yet (see #handleReady), and its timer. */
  #lazyHardState: Ready["hardState"];
  #lazyTimer: NodeJS.Timeout | undefined;
  #soft: SoftState;
  /** The last leader seen (id and term), to count leader changes. */
  #seenLeader = { id: "", term: 0 };
  #lastContact = 0;
  /** Listeners of state changes (membership agent, shutdown). */
  readonly #softListeners = new Set<(s: SoftState) => void>();
  /** Listeners of applied config entries. */
  readonly #configListeners = new Set<() => void>();
  /** The error already reported to onFatal, if any. */
  #fatalError: Error | undefined;
  /** Called once per cycle (maintenance work of the membership agent). */
  onCycle: () => void = () => {};

  /** A node ready to `start()`. */
  constructor(d: RaftNodeDeps) {
    this.#d = d;
    this.id = d.core.id;
    this.#log = d.logger;
    this.book = d.book;
    // Damaged data found by any KV read (API reads included) stops the node: see fatalOnCorrupt.
    this.kv = fatalOnCorrupt(d.kv, (e) => this.#fatal(e));
    this.core = new RaftCore(d.core, d.persisted);
    this.#applies = new ApplyPipeline({
      kv: this.kv,
      book: this.book,
      logger: d.logger,
      proposals: this.proposals,
      appliedWaiters: this.#appliedWaiters,
      applied: this.core.log.applied,
      onApplied: (bytes) => this.#snapshots.applied(bytes),
      onRestored: () => this.#snapshots.restored(),
      onConfig: (index, restored) => {
        if (!restored) this.#log.info("membership changed", { index, config: this.core.config });
        for (const f of this.#configListeners) f();
      },
      onFailed: (e) => this.#loopFailed(e),
    });
    this.#snapshots = new SnapshotMaker({
      core: this.core,
      kv: this.kv,
      book: this.book,
      log: d.log,
      logger: d.logger,
      policy: {
        threshold: d.snapshotThreshold,
        logRatio: d.snapshotLogRatio ?? 0,
        maxLogBytes: d.snapshotMaxLogBytes ?? Number.POSITIVE_INFINITY,
      },
      diskLow: d.diskLow,
      applied: () => this.#applies.applied,
      chain: (f) => this.#applies.chain(f),
      toLoop: (f) => {
        this.#inputs.push(f);
        this.#schedule();
      },
    });
    this.#soft = { state: this.core.state, lead: this.core.lead, term: this.core.term };
    this.#reads = new ReadBatcher(this.id, d.requestTimeoutMs, (delay) => {
      if (delay === undefined) this.#schedule();
      else setTimeout(() => this.#schedule(), delay);
    });
    updateRaftGauges(this.core, this.#applies.applied);
    // The gauges are filled when read (a scrape), from the node created last: the one a process runs.
    setRaftGaugeSource(() => updateRaftGauges(this.core, this.#applies.applied));
  }

  /** Highest index applied to the KV store. */
  get applied(): number {
    return this.#applies.applied;
  }

  /** True while the loop runs. */
  get running(): boolean {
    return this.#running;
  }

  /** Milliseconds since the leader was last heard from (0 on the leader, null when never). */
  lastContactMs(): number | null {
    if (this.core.state === "leader") return 0;
    return this.#lastContact === 0 ? null : Date.now() - this.#lastContact;
  }

  /** Starts ticking and processing. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tickBase = performance.now();
    this.#ticks = 0;
    this.#ticker = setInterval(() => this.#schedule(), this.#d.tickMs);
    this.#loop = this.#run();
  }

  /** Stops the loop after the current cycle; pending callers get UNAVAILABLE. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#ticker);
    this.#schedule();
    await this.#loop;
    const err = new NodeError("UNAVAILABLE", "node is shutting down");
    this.proposals.rejectAll(err);
    this.#reads.rejectAll(err);
  }

  /** Resolves once a leader is known, or after `ms` (callers then report NO_LEADER). */
  waitForLeader(ms: number): Promise<void> {
    if (this.core.lead !== "" || !this.#running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const off = this.onSoftState((s) => {
        if (s.lead !== "") done();
      });
    });
  }

  /** Subscribes to role/leader/term changes; returns the unsubscribe function. */
  onSoftState(f: (s: SoftState) => void): () => void {
    this.#softListeners.add(f);
    return () => this.#softListeners.delete(f);
  }

  /** Subscribes to applied configuration changes. */
  onConfigApplied(f: () => void): () => void {
    this.#configListeners.add(f);
    return () => this.#configListeners.delete(f);
  }

  /**
   * Queues messages from the Raft port; false once stopped. While the disk is
   * low, appends that carry entries and snapshot chunks are dropped unread:
   * the leader resends them later, as after any lost message, and this node
   * writes nothing it does not have to (heartbeats and votes still pass).
   */
  deliver(msgs: readonly Message[]): boolean {
    if (!this.#running) return false;
    const low = this.#d.diskLow?.() === true;
    for (const m of msgs) {
      if (low && ((m.type === "app" && (m.entries?.length ?? 0) > 0) || m.type === "snap")) {
        metrics.raftRejected.inc({ reason: "disk_low" });
        continue;
      }
      this.#inbox.push(m);
    }
    this.#schedule();
    return true;
  }

  /** Runs `f` against the core at the next safe point and returns its result. */
  withCore<T>(f: (core: RaftCore) => T): Promise<T> {
    if (!this.#running) return Promise.reject(new NodeError("UNAVAILABLE", "node is not running"));
    return new Promise((resolve, reject) => {
      this.#inputs.push(() => {
        try {
          resolve(f(this.core));
        } catch (e) {
          reject(e);
        }
      });
      this.#schedule();
    });
  }

  /**
   * Proposes a normal entry and resolves with its apply result once applied here. With `atCommit`
   * (for a command whose result cannot depend on the state, a set), it resolves with that result
   * once the entry commits: the write is then durable on a majority, and every linearizable read
   * still waits for its read index to be applied.
   */
  propose(data: string, atCommit?: ApplyResult): Promise<{ index: number; result: ApplyResult }> {
    return this.#submit((c) => c.propose(data), atCommit);
  }

  /** Proposes a membership change and resolves once it is applied here. */
  async confChange(cc: ConfChange): Promise<{ index: number }> {
    const r = await this.#submit((c) => c.proposeConfChange(cc));
    return { index: r.index };
  }

  /** Records a member's addresses in the replicated book. */
  async proposeMember(id: string, a: MemberAddress): Promise<void> {
    await this.propose(encodeMemberRecord(id, a));
  }

  /**
   * Runs a proposal at the next safe point. The waiter is registered in the
   * same synchronous step as the proposal, so its entry cannot be applied first.
   */
  #submit(f: (core: RaftCore) => Outcome, atCommit?: ApplyResult): Promise<{ index: number; result: ApplyResult }> {
    if (this.core.state !== "leader") return Promise.reject(notLeader(this.book, this.core.lead));
    if (!this.#running) return Promise.reject(new NodeError("UNAVAILABLE", "node is not running"));
    return new Promise((resolve, reject) => {
      this.#inputs.push(() => {
        const out = f(this.core);
        if (!out.ok) {
          metrics.proposals.inc({ result: "rejected" });
          reject(refusalError(this.book, out));
          return;
        }
        const end = metrics.proposalCommitSeconds.startTimer();
        this.proposals.wait(out.index, out.term, this.#d.requestTimeoutMs, atCommit).then(
          (result) => {
            end();
            proposalsCommitted.inc();
            resolve({ index: out.index, result });
          },
          (e: Error) => {
            metrics.proposals.inc({ result: "failed" });
            reject(e);
          },
        );
      });
      this.#schedule();
    });
  }

  /**
   * Resolves once this node's state reflects every write committed before the
   * call (ReadIndex: on the leader after a heartbeat round, on a follower by
   * asking the leader). Reads arriving together share one round.
   */
  readBarrier(): Promise<void> {
    if (!this.#running) return Promise.reject(new NodeError("UNAVAILABLE", "node is not running"));
    return this.#reads.wait();
  }

  #schedule(): void {
    this.#dirty = true;
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #run(): Promise<void> {
    try {
      while (this.#running) {
        if (!this.#dirty) await new Promise<void>((r) => (this.#wake = r));
        this.#dirty = false;
        if (!this.#running) break;
        await this.#cycle();
      }
      // Finish the work already handed to the core, so nothing stepped is left unpersisted.
      while (this.core.hasReady()) await this.#handleReady();
      await this.#applies.drained();
      const hs = this.#lazyHardState;
      this.#dropLazyHardState();
      if (hs !== undefined) await this.#d.log.save({ hardState: hs, entries: [], snapshotRestore: false, sync: false });
    } catch (e) {
      this.#loopFailed(e as Error);
    }
  }

  /** The loop (or an apply behind it) failed: stop, answer everyone, report. */
  #loopFailed(e: Error): void {
    if (this.#fatalError) return;
    this.#running = false;
    clearInterval(this.#ticker);
    this.#log.error("raft loop failed; the node stops", { err: e });
    // Entries already sent to followers may still commit without us: the outcome is unknown.
    const why = new NodeError("UNAVAILABLE", `the node stopped (${e.message}); the outcome is unknown`);
    this.proposals.rejectAll(why);
    this.#reads.rejectAll(why);
    this.#fatal(e);
    this.#schedule();
  }

  /** Hands the first fatal error to onFatal (the process exits); later ones were caused by it. */
  #fatal(e: Error): void {
    if (this.#fatalError) return;
    this.#fatalError = e;
    this.#d.onFatal(e);
  }

  async #cycle(): Promise<void> {
    this.#feedTicks();
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const m of inbox) {
      if (m.from === this.core.lead) this.#lastContact = Date.now();
      this.core.step(m);
    }
    const inputs = this.#inputs;
    this.#inputs = [];
    for (const f of inputs) f();
    this.#reads.start(this.core, this.book, this.#d.tickMs);
    while (this.core.hasReady()) await this.#handleReady();
    this.#snapshots.maybe(this.#applies.applied);
    this.onCycle();
  }

  /** Feeds the ticks the wall clock says are due (capped, so a long stall cannot flood the core). */
  #feedTicks(): void {
    const due = Math.floor((performance.now() - this.#tickBase) / this.#d.tickMs);
    let n = due - this.#ticks;
    const cap = 2 * this.core.opts.electionTicks + 2;
    if (n > this.core.opts.electionTicks) {
      this.#log.warn("event loop stalled; feeding missed ticks", { missedTicks: n, fed: Math.min(n, cap) });
    }
    if (n > cap) n = cap;
    for (let k = 0; k < n; k++) this.core.tick();
    this.#ticks = due;
  }

  async #handleReady(): Promise<void> {
    const rd: Ready = this.core.ready();
    const lostLeadership = rd.softState ? this.#onSoft(rd.softState) : false;
    if (rd.snapshot && rd.snapshotRestore) {
      // Check a received snapshot before it is persisted: a bad one stored on
      // disk would make every later start fail. Refusing here (the node stops
      // without writing) leaves the disk as it was.
      try {
        decodeSnapshot(unwrapSnapshot(rd.snapshot.data).kv);
      } catch (e) {
        throw new Error(`refusing a snapshot from the leader that does not decode: ${(e as Error).message}`);
      }
    }
    // The leader's appends leave now and its own write runs meanwhile (the core marks which may: see Ready).
    const early = TEST_BUG_ACK_BEFORE_FSYNC ? undefined : rd.sendBeforePersist;
    if (early) this.#sendEarly(early, rd.committed.length > 0);
    // Answers given at commit leave now, not after this Ready's write: a committed entry is durable on a
    // majority whatever happens to this node's write (the leader counts its own copy only once durable,
    // and a follower learns a commit index only from such a leader), and the answer needs no apply.
    if (rd.committed.length > 0) this.proposals.committed(rd.committed);
    // A newer hard state replaces one still waiting to be written.
    if (rd.hardState && rd.mustSync) this.#dropLazyHardState();
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
      const end = rd.mustSync ? metrics.fsyncSeconds.startTimer() : undefined;
      const req: Parameters<LogStore["save"]>[0] = {
        entries: rd.entries,
        snapshotRestore: rd.snapshotRestore,
        sync: rd.mustSync,
      };
      if (rd.hardState) req.hardState = rd.hardState;
      if (rd.snapshot) req.snapshot = rd.snapshot;
      if (TEST_FSYNC_DELAY_FILE) {
        // TEST-ONLY: a slow disk (the write is durable, and acknowledged, only after the delay).
        const ms = testFsyncDelayMs(TEST_FSYNC_DELAY_FILE);
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      }
      if (TEST_BUG_ACK_BEFORE_FSYNC) {
        // TEST-ONLY planted bug (RAFTKV_TEST_BUG=ackBeforeFsync, set only by test/faults): acknowledge
        // before the state is durable, as if the write sat in a volatile cache for a second. Saves keep
        // their order (equal delays); a SIGKILL within that second loses acknowledged entries.
        setTimeout(() => this.#d.log.save(req).catch((e: Error) => this.#d.onFatal(e)), 1000);
      } else if (!rd.mustSync && rd.entries.length === 0 && !rd.snapshot && !TEST_FSYNC_DELAY_FILE) {
        // Only a new commit index: nothing depends on it being on disk (the committed entries already are,
        // and a lost commit index is learned again). It rides along with the next write, or is written
        // alone (without a sync) after LAZY_COMMIT_MS: under load that saves a LevelDB batch per cycle.
        this.#lazyHardState = rd.hardState;
        this.#lazyTimer ??= setTimeout(() => this.#flushLazyHardState(), LAZY_COMMIT_MS);
      } else {
        if (req.hardState === undefined && this.#lazyHardState !== undefined) req.hardState = this.#lazyHardState;
        this.#dropLazyHardState();
        await this.#d.log.save(req);
      }
      end?.();
    }
    if (early === undefined) {
      if (rd.messages.length > 0) this.#d.transport.send(rd.messages);
    } else if (rd.messages.length > early.length) {
      const sent = new Set(early);
      this.#d.transport.send(rd.messages.filter((m) => !sent.has(m)));
    }
    // On the wire before the applies and answers below run (a follower's answer to an append is its peer's wait).
    this.#d.transport.flush();
    if (this.#fatalError) throw this.#fatalError;
    if (rd.snapshot && rd.snapshotRestore) {
      await this.#applies.drained();
      await this.#applies.restore(rd.snapshot.data, rd.snapshot.meta.index);
    }
    if (rd.committed.length > 0) this.#applies.queue(rd.committed);
    // Only after applying: a leader that removed itself steps down in the step that commits the removal,
    // and that change (committed in this Ready) must answer success, not "leadership lost".
    if (lostLeadership) {
      await this.#applies.drained();
      this.proposals.rejectAll(new NodeError("UNAVAILABLE", "leadership lost before the entry was applied; retry"));
    }
    for (const rs of rd.readStates)
      this.#reads.confirmed(rs, (i) => this.#appliedWaiters.wait(i, this.#applies.applied));
    this.core.advance(rd);
  }

  /**
   * Sends the leader's appends ahead of its own write, before the write's batch is even built: the
   * followers' writes are the wait. When this Ready also answers proposals, the appends that only tell
   * the commit index leave after those answers: a follower that forwarded a write then reads its answer
   * first, not after applying. A Ready is handled inside the loop's microtask, so the nextTick below runs
   * only once the answers' promise chains have written them (the test in raft-node.test.ts checks it).
   */
  #sendEarly(early: Message[], answers: boolean): void {
    const t = this.#d.transport;
    const now: Message[] = [];
    const commitOnly: Message[] = [];
    for (const m of early) {
      if (answers && m.type === "app" && (m.entries?.length ?? 0) === 0) commitOnly.push(m);
      else now.push(m);
    }
    if (now.length > 0) {
      t.send(now);
      t.flush();
    }
    if (commitOnly.length === 0) return;
    process.nextTick(() => {
      t.send(commitOnly);
      t.flush();
    });
  }

  #flushLazyHardState(): void {
    this.#lazyTimer = undefined;
    const hs = this.#lazyHardState;
    this.#lazyHardState = undefined;
    if (hs === undefined || this.#fatalError) return;
    this.#d.log
      .save({ hardState: hs, entries: [], snapshotRestore: false, sync: false })
      .catch((e: Error) => this.#loopFailed(e));
  }

  #dropLazyHardState(): void {
    this.#lazyHardState = undefined;
    if (this.#lazyTimer) clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
  }

  /** Records a role/leader/term change; true when this node stopped leading. */
  #onSoft(s: SoftState): boolean {
    const prev = this.#soft;
    this.#soft = s;
    if (s.lead !== "" && (s.lead !== this.#seenLeader.id || s.term !== this.#seenLeader.term)) {
      if (s.lead !== this.#seenLeader.id) metrics.leaderChanges.inc();
      this.#seenLeader = { id: s.lead, term: s.term };
    }
    this.#log.info("raft state changed", {
      state: s.state,
      term: s.term,
      leader: s.lead,
      prevState: prev.state,
      prevTerm: prev.term,
      prevLeader: prev.lead,
    });
    if (prev.lead !== s.lead || prev.term !== s.term) this.#reads.leaderChanged(s.lead, s.term);
    for (const f of this.#softListeners) f(s);
    return prev.state === "leader" && s.state !== "leader";
  }
}
