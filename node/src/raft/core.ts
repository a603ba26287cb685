/**
 * The Raft state machine, free of I/O (etcd-io/raft is the model).
 *
 * Persistence contract: everything a `Ready` asks to persist (hard state,
 * entries, snapshot) must be durable before any of its messages is sent. The
 * core relies on it: a vote is granted, an entry acknowledged and a leader's
 * own entry counted toward commit only through a Ready, so no message ever
 * depends on state that a crash could take back. Committed entries in a Ready
 * are durable once step 1 of that Ready is done, and may be applied then.
 * One exception, which the core itself marks: a leader's replication messages
 * (`Ready.sendBeforePersist`) may leave before its own write, when the Ready
 * changes neither term nor vote (thesis §10.2.1); the leader still counts its
 * own entries toward commit only once `advance()` says they are durable.
 *
 * Identity: a node is its id plus the incarnation its storage was created
 * with. Configurations bind each member to an incarnation, and votes or
 * acknowledgements from any other incarnation are ignored, so a node whose
 * disk was wiped cannot vote or count toward a quorum until it is re-added.
 */
import { campaign, handleVoteRequest, handleVoteResponse } from "./election.ts";
import { RaftLog } from "./log.ts";
import {
  applyChange,
  emptyMembership,
  encodeMembership,
  incarnationOf,
  isVoter,
  latestConfig,
  memberIds,
  voterIds,
} from "./membership.ts";
import { type CoreOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { Progress } from "./progress.ts";
import { quorumValue } from "./quorum.ts";
import { ReadIndexQueue } from "./read-index.ts";
import {
  bcastAppend,
  bcastHeartbeat,
  handleAppend,
  handleAppResponse,
  handleHeartbeat,
  handleHeartbeatResponse,
  handleSnapChunk,
  handleSnapResponse,
  sendAppend,
  sendCommit,
} from "./replication.ts";
import { Rng } from "./rng.ts";
import type {
  ConfChange,
  Entry,
  EntryType,
  HardState,
  Incarnation,
  Membership,
  Message,
  NodeId,
  Outcome,
  PersistedState,
  ReadState,
  Ready,
  RefusalCode,
  RoleState,
  Snapshot,
  SoftState,
} from "./types.ts";

/** A point-in-time view of a core for /status and tests. */
export interface CoreStatus {
  id: NodeId;
  incarnation: Incarnation;
  state: RoleState;
  term: number;
  vote: NodeId;
  lead: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  config: Membership;
  configIndex: number;
  transferee: NodeId;
  progress: Record<NodeId, { match: number; next: number; state: string; incarnation?: Incarnation }>;
}

/** One Raft member: feed it ticks, messages and proposals; drain Ready batches. */
export class RaftCore {
  readonly id: NodeId;
  readonly inc: Incarnation;
  readonly opts: ResolvedOptions;
  term = 0;
  vote: NodeId = "";
  lead: NodeId = "";
  state: RoleState = "follower";
  readonly log: RaftLog;
  /** The configuration in force: the last one appended (not necessarily committed). */
  config: Membership = emptyMembership();
  configIndex = 0;
  configTerm = 0;
  /** The configuration at the snapshot point, for when no config entry is left in the log. */
  snapConfig: Membership = emptyMembership();
  /** The latest snapshot, kept to send to followers that fell behind the log. */
  snapshot: Snapshot | undefined;
  /** A follower needs a snapshot and the latest one is local: the application should compact with a full one. */
  snapshotWanted = false;
  readonly prs = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Ticks since this core was created: the clock for check-quorum. */
  now = 0;
  /** Acknowledgements of messages sent before this tick do not count toward the lease. */
  leaseStart = 0;
  leadTransferee: NodeId = "";
  /** A TimeoutNow went out in this term: a forced election may follow at any time, so no more lease reads. */
  timeoutNowSent = false;
  readonly reads = new ReadIndexQueue();
  readStates: ReadState[] = [];
  msgs: Message[] = [];
  /** A snapshot being received in chunks. */
  incoming: Snapshot | undefined;
  /** Proposals arrived since the last Ready: replicate them in one batch. */
  needBcast = false;
  /**
   * The commit index moved since the last Ready: the next Ready tells every follower, in an empty append
   * only when no append with entries goes to it anyway (one message per follower, not two).
   */
  commitBcast = false;
  private pendingSnapshot: Snapshot | undefined;
  private pendingRestore = false;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private readonly rng: Rng;

  /** Builds a core from what storage loaded (use `RaftCore.bootstrap` for a brand-new cluster). */
  constructor(options: CoreOptions, persisted: PersistedState) {
    this.opts = resolveOptions(options);
    this.id = this.opts.id;
    this.inc = persisted.incarnation;
    this.rng = new Rng(this.opts.seed);
    const hs = persisted.hardState;
    const snap = persisted.snapshot;
    this.log = new RaftLog(snap?.meta, persisted.entries, hs.commit, persisted.applied ?? snap?.meta.index ?? 0);
    this.term = hs.term;
    this.vote = hs.vote;
    if (snap) {
      this.snapshot = snap;
      this.snapConfig = snap.meta.config;
    }
    this.refreshConfig();
    this.prevHard = { term: hs.term, vote: hs.vote, commit: this.log.committed };
    this.prevSoft = { state: "follower", lead: "", term: hs.term };
    this.resetTimers();
  }

  /**
   * The first persisted state of a new cluster: one config entry naming the
   * voters with their incarnations. Every founding member must be given the
   * same membership.
   */
  static bootstrap(incarnation: Incarnation, voters: Membership): PersistedState {
    const entry: Entry = { term: 1, index: 1, type: "config", data: encodeMembership(voters) };
    return { incarnation, hardState: { term: 1, vote: "", commit: 1 }, entries: [entry] };
  }

  /** A node with an empty disk that waits to be added to an existing cluster. */
  static blank(incarnation: Incarnation): PersistedState {
    return { incarnation, hardState: { term: 0, vote: "", commit: 0 }, entries: [] };
  }

  // ---- inputs ----------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    this.now++;
    if (this.state === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** Handles one message from a peer. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        // With lease reads, a node that just started may have acknowledged a
        // leader's lease right before it crashed, and it cannot remember: it
        // stays loyal for one election timeout after start. (leaseRead must be
        // set alike on every member.)
        const inLease =
          this.opts.checkQuorum &&
          ((this.lead !== "" && (this.state === "leader" || this.electionElapsed < this.opts.electionTicks)) ||
            (this.opts.leaseRead && this.now < this.opts.electionTicks));
        // Thesis §4.2.3: a server that heard from a leader recently ignores
        // votes, so a removed or partitioned node cannot disrupt the cluster.
        if (inLease && !m.force) return;
      }
      if (m.type === "preVote" || (m.type === "preVoteResp" && !m.reject)) {
        // A pre-vote never changes anyone's term.
      } else {
        const fromLeader = m.type === "app" || m.type === "heartbeat" || m.type === "snap";
        this.becomeFollower(m.term, fromLeader ? m.from : "");
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === "app" || m.type === "heartbeat")) {
        // Tell a stale leader about the new term so it steps down.
        this.send({ type: "appResp", to: m.from });
      } else if (m.type === "preVote") {
        this.send({ type: "preVoteResp", to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case "vote":
      case "preVote":
        handleVoteRequest(this, m);
        return;
      case "app":
      case "heartbeat":
      case "snap":
        if (this.state === "leader") return; // one leader per term: cannot happen
        if (this.state !== "follower") this.becomeFollower(m.term, m.from);
        this.electionElapsed = 0;
        this.lead = m.from;
        if (m.type === "app") handleAppend(this, m);
        else if (m.type === "heartbeat") handleHeartbeat(this, m);
        else handleSnapChunk(this, m);
        return;
      case "voteResp":
      case "preVoteResp":
        handleVoteResponse(this, m);
        return;
      case "timeoutNow":
        if (this.state === "follower" && this.promotable()) campaign(this, "transfer");
        return;
      case "readIndexResp":
        if (m.context !== undefined && m.index !== undefined) {
          this.readStates.push({ context: m.context, index: m.index });
        }
        return;
      default:
        if (this.state === "leader") this.stepLeader(m);
    }
  }

  /** Appends `data` as a new entry if this node leads. */
  propose(data: string): Outcome {
    const refusal = this.refuseUnlessLeader();
    if (refusal) return refusal;
    const e = this.appendLocal("normal", data);
    return { ok: true, index: e.index, term: e.term };
  }

  /** Starts a single-server membership change (one at a time, after this leader has committed in its term). */
  proposeConfChange(cc: ConfChange): Outcome {
    const refusal = this.refuseUnlessLeader();
    if (refusal) return refusal;
    if (!this.committedInTerm()) return this.refuse("NOT_READY", "leader has not committed an entry in its term yet");
    if (this.configIndex > this.log.committed) {
      return this.refuse("CONFIG_CHANGE_PENDING", `configuration change at ${this.configIndex} is not committed yet`);
    }
    if (cc.op === "promote") {
      const pr = this.prs.get(cc.id);
      if (pr?.seenInc !== undefined && pr.seenInc !== pr.boundInc) {
        return this.refuse("BAD_CONFIG_CHANGE", `${cc.id} answers under another incarnation; re-add it first`);
      }
      // A voter that cannot keep up (or does not exist at that address) would
      // count toward every quorum without helping: promote only a learner that
      // holds at least 90% of the committed log (etcd's rule).
      const need = Math.ceil(this.log.committed * 0.9);
      if (pr && this.config.learners[cc.id] !== undefined && pr.match < need) {
        return this.refuse(
          "NOT_READY",
          `learner ${cc.id} is not caught up (holds ${pr.match} of ${this.log.committed})`,
        );
      }
    }
    const next = applyChange(this.config, cc);
    if (typeof next === "string") {
      return this.refuse(next.includes("not a") ? "UNKNOWN_MEMBER" : "BAD_CONFIG_CHANGE", next);
    }
    const e = this.appendLocal("config", encodeMembership(next));
    return { ok: true, index: e.index, term: e.term };
  }

  /**
   * Starts a linearizable read; a ReadState with `context` arrives in a later
   * Ready. Serve the read once the local state has applied its index.
   */
  readIndex(context: string): Outcome {
    if (this.state !== "leader") {
      if (!this.lead) return this.refuse("NO_LEADER", "no leader known");
      this.send({ type: "readIndex", to: this.lead, context });
      return { ok: true, index: 0, term: this.term };
    }
    if (!this.committedInTerm()) return this.refuse("NOT_READY", "leader has not committed an entry in its term yet");
    this.leaderRead(context, this.id);
    return { ok: true, index: this.log.committed, term: this.term };
  }

  /** Hands leadership to `target` once it has caught up; proposals are refused meanwhile. */
  transferLeader(target: NodeId): Outcome {
    if (this.state !== "leader") return this.refuse(this.lead ? "NOT_LEADER" : "NO_LEADER", "not the leader");
    const ok: Outcome = { ok: true, index: this.log.lastIndex(), term: this.term };
    if (target === this.id || target === this.leadTransferee) return ok;
    if (this.config.voters[target] === undefined) return this.refuse("UNKNOWN_MEMBER", `${target} is not a voter`);
    this.leadTransferee = target;
    this.electionElapsed = 0;
    const pr = this.prs.get(target);
    if (pr && pr.match === this.log.lastIndex() && this.incOk(target, pr.seenInc)) this.sendTimeoutNow(target);
    else sendAppend(this, target);
    return ok;
  }

  /**
   * The application has durably captured its state up to `index` (<= applied)
   * as `data`: keep that as the snapshot and drop the log before it, except
   * the last `catchUpEntries` entries, which stay in memory for slow followers.
   * Storage may drop every entry up to `index` (the Ready carries the snapshot).
   * `local`: `data` does not hold the state machine (see Snapshot.local).
   */
  compact(index: number, data: string, local = false): void {
    const cur = this.snapshot;
    // A full snapshot may replace a local one at the same index (a follower wants it sent).
    const replacesLocal = cur?.local === true && !local && index === cur.meta.index;
    if ((index <= (cur?.meta.index ?? 0) || index <= this.log.snapIndex) && !replacesLocal) return;
    if (index > this.log.applied) throw new Error(`raft: compact ${index} beyond applied ${this.log.applied}`);
    if (this.pendingRestore) throw new Error("raft: compact while a received snapshot is being restored");
    const configUpTo = (i: number) =>
      latestConfig(this.log.slice(this.log.firstIndex(), i + 1) ?? [])?.config ?? this.snapConfig;
    const term = this.log.term(index) as number;
    const snap: Snapshot = { meta: { index, term, config: configUpTo(index) }, data };
    if (local) snap.local = true;
    else this.snapshotWanted = false;
    const cut = Math.max(this.log.snapIndex, index - this.opts.catchUpEntries);
    if (cut > this.log.snapIndex) {
      this.snapConfig = configUpTo(cut);
      this.log.compact(cut);
    }
    this.snapshot = snap;
    this.pendingSnapshot = snap;
    this.refreshConfig();
  }

  // ---- outputs ---------------------------------------------------------

  /** True when `ready()` has work. */
  hasReady(): boolean {
    return (
      this.needBcast ||
      this.commitBcast ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== undefined ||
      this.log.stable < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      !sameHard(this.hardState(), this.prevHard) ||
      !sameSoft(this.softState(), this.prevSoft)
    );
  }

  /** Takes the next batch of work; see `Ready` for the order it must be done in. */
  ready(): Ready {
    if (this.state === "leader" && (this.needBcast || this.commitBcast)) bcastAppend(this, false);
    if (this.state === "leader" && this.commitBcast) sendCommit(this);
    this.needBcast = false;
    this.commitBcast = false;
    const hs = this.hardState();
    const ss = this.softState();
    const entries = this.log.unstable();
    const rd: Ready = {
      entries,
      messages: this.msgs,
      committed: this.log.nextCommitted(),
      readStates: this.readStates,
      snapshotRestore: this.pendingRestore,
      mustSync:
        entries.length > 0 ||
        this.pendingSnapshot !== undefined ||
        hs.term !== this.prevHard.term ||
        hs.vote !== this.prevHard.vote,
    };
    if (this.pendingSnapshot) rd.snapshot = this.pendingSnapshot;
    if (
      this.state === "leader" &&
      this.msgs.length > 0 &&
      this.pendingSnapshot === undefined &&
      hs.term === this.prevHard.term &&
      hs.vote === this.prevHard.vote
    ) {
      const early = this.msgs.filter((m) => m.type === "app" || m.type === "heartbeat" || m.type === "snap");
      if (early.length > 0) rd.sendBeforePersist = early;
    }
    if (!sameHard(hs, this.prevHard)) rd.hardState = hs;
    if (!sameSoft(ss, this.prevSoft)) rd.softState = ss;
    this.prevHard = hs;
    this.prevSoft = ss;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  /** The adapter finished a Ready: its entries are durable and its committed entries applied. */
  advance(rd: Ready): void {
    const last = rd.entries[rd.entries.length - 1];
    if (last && this.log.matchTerm(last.index, last.term)) this.log.stable = Math.max(this.log.stable, last.index);
    if (rd.snapshot && rd.snapshot === this.pendingSnapshot) {
      this.pendingSnapshot = undefined;
      this.pendingRestore = false;
    }
    const applied = rd.committed[rd.committed.length - 1];
    if (applied) this.log.applied = Math.max(this.log.applied, applied.index);
    // The leader's own entries count toward commit only once durable.
    if (this.state === "leader" && this.maybeCommit()) this.commitBcast = true;
  }

  /** A snapshot of the core's state. */
  status(): CoreStatus {
    const progress: CoreStatus["progress"] = {};
    for (const [id, pr] of this.prs) {
      progress[id] = { match: pr.match, next: pr.next, state: pr.state };
      if (pr.seenInc !== undefined) (progress[id] as { incarnation?: string }).incarnation = pr.seenInc;
    }
    return {
      id: this.id,
      incarnation: this.inc,
      state: this.state,
      term: this.term,
      vote: this.vote,
      lead: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.snapshot?.meta.index ?? 0,
      config: this.config,
      configIndex: this.configIndex,
      transferee: this.leadTransferee,
      progress,
    };
  }

  /** Members that answer under an incarnation other than the configured one (wiped disks): re-add them. */
  staleMembers(): { id: NodeId; configured: Incarnation; seen: Incarnation }[] {
    const out: { id: NodeId; configured: Incarnation; seen: Incarnation }[] = [];
    for (const [id, pr] of this.prs) {
      const configured = incarnationOf(this.config, id);
      if (configured !== undefined && pr.seenInc !== undefined && pr.seenInc !== configured) {
        out.push({ id, configured, seen: pr.seenInc });
      }
    }
    return out;
  }

  // ---- internals shared with election.ts and replication.ts ----------------

  /** Queues a message; fills in sender, incarnation and (unless given) the current term. */
  send(m: Omit<Message, "from" | "fromInc" | "term"> & { term?: number }): void {
    this.msgs.push({ ...m, from: this.id, fromInc: this.inc, term: m.term ?? this.term });
  }

  /** True when this node, under its incarnation, is a voter of its own configuration. */
  promotable(): boolean {
    return isVoter(this.config, this.id, this.inc);
  }

  /** True when `inc` is the incarnation the configuration binds `id` to. */
  incOk(id: NodeId, inc: Incarnation | undefined): boolean {
    return this.opts.bugs.ignoreIncarnation === true || (inc !== undefined && incarnationOf(this.config, id) === inc);
  }

  /** True when `id` is a voter under incarnation `inc`. */
  voterOk(id: NodeId, inc: Incarnation | undefined): boolean {
    if (this.opts.bugs.ignoreIncarnation) return this.config.voters[id] !== undefined;
    return inc !== undefined && isVoter(this.config, id, inc);
  }

  /** True once the leader has committed an entry of its own term (needed for reads and config changes). */
  committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** The highest leader tick that a quorum of voters has echoed (this node counts as now). */
  quorumAck(): number {
    const vals = voterIds(this.config).map((v) => {
      if (v === this.id) return this.promotable() ? this.now : Number.NEGATIVE_INFINITY;
      const pr = this.prs.get(v);
      return pr && this.voterOk(v, pr.seenInc) ? pr.ackTick : Number.NEGATIVE_INFINITY;
    });
    return vals.length === 0 ? Number.NEGATIVE_INFINITY : quorumValue(vals);
  }

  /** Raises the commit index to what a quorum holds, counting only entries of the current term (§5.4.2). */
  maybeCommit(): boolean {
    const vals = voterIds(this.config).map((v) => {
      if (v === this.id) return this.promotable() ? this.log.stable : 0;
      const pr = this.prs.get(v);
      return pr && this.voterOk(v, pr.seenInc) ? pr.match : 0;
    });
    if (vals.length === 0) return false;
    const idx = quorumValue(vals);
    if (idx <= this.log.committed) return false;
    if (this.log.term(idx) !== this.term && !this.opts.bugs.commitPrevTermByCount) return false;
    this.log.commitTo(idx);
    this.afterLeaderCommit();
    return true;
  }

  /** Re-reads the configuration after the log changed; the last appended config wins. */
  refreshConfig(): void {
    const found = latestConfig(this.log.entries);
    if (found) {
      this.config = found.config;
      this.configIndex = found.index;
    } else {
      this.config = this.snapConfig;
      this.configIndex = this.log.snapIndex;
    }
    this.configTerm = this.log.term(this.configIndex) ?? 0;
    if (this.state === "leader") this.syncProgress();
  }

  /** Refreshes the configuration when appended entries may have changed it. */
  maybeRefreshConfig(ents: Entry[]): void {
    const changed = ents.some((e) => e.type === "config");
    const truncated = this.configIndex > this.log.snapIndex && !this.log.matchTerm(this.configIndex, this.configTerm);
    if (changed || truncated) this.refreshConfig();
  }

  /** Installs a snapshot from the leader; false when the log already covers it. */
  restore(snap: Snapshot): boolean {
    const meta = snap.meta;
    if (meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(meta.index, meta.term)) {
      this.log.commitTo(meta.index);
      return false;
    }
    this.log.restore(meta);
    this.snapshot = snap;
    this.snapshotWanted = false;
    this.snapConfig = meta.config;
    this.pendingSnapshot = snap;
    this.pendingRestore = true;
    this.refreshConfig();
    return true;
  }

  /** Sends TimeoutNow: the target campaigns at once, bypassing leases. */
  sendTimeoutNow(to: NodeId): void {
    this.timeoutNowSent = true;
    this.send({ type: "timeoutNow", to });
  }

  /** Records a read at this leader; `from` is this node or the follower that forwarded it. */
  leaderRead(context: string, from: NodeId): void {
    const index = this.log.committed;
    const single = voterIds(this.config).length === 1 && this.promotable();
    // With a lease, check-quorum guarantees a quorum heard from us within the election timeout.
    const lease =
      this.opts.leaseRead && !this.leadTransferee && !this.timeoutNowSent && this.quorumAck() >= this.leaseStart;
    if (single || lease) this.releaseRead(context, index, from);
    else if (this.reads.add(context, index, from, this.id, this.now)) bcastHeartbeat(this, context);
  }

  /** Releases reads confirmed by heartbeat acknowledgements (`tick`: the leader tick the ack echoes). */
  ackRead(context: string, from: NodeId, tick: number | undefined): void {
    const voters = this.config.voters;
    const confirmed = (acks: Set<NodeId>) => {
      let n = 0;
      for (const a of acks) if (voters[a] !== undefined) n++;
      return n >= Math.floor(Object.keys(voters).length / 2) + 1;
    };
    for (const p of this.reads.ack(context, from, tick ?? Number.NEGATIVE_INFINITY, confirmed)) {
      this.releaseRead(p.context, p.index, p.from);
    }
  }

  /** Hands a confirmed read to the application here, or back to the follower that asked. */
  private releaseRead(context: string, index: number, to: NodeId): void {
    if (to === this.id) this.readStates.push({ context, index });
    else this.send({ type: "readIndexResp", to, context, index });
  }

  // ---- role changes ------------------------------------------------------

  /** Becomes a follower in `term` (a higher term clears the vote). */
  becomeFollower(term: number, lead: NodeId): void {
    if (term > this.term) {
      this.term = term;
      this.vote = "";
    }
    this.state = "follower";
    this.lead = lead;
    this.resetRole();
  }

  /** Starts a real election: a new term and a vote for itself. */
  becomeCandidate(): void {
    this.term++;
    this.vote = this.id;
    this.state = "candidate";
    this.lead = "";
    this.resetRole();
  }

  /** Starts a pre-vote round without touching the term. */
  becomePreCandidate(): void {
    this.state = "preCandidate";
    this.lead = "";
    this.resetRole();
  }

  /** Takes leadership: fresh progress for every member and a no-op entry of the new term. */
  becomeLeader(): void {
    this.state = "leader";
    this.lead = this.id;
    this.resetRole();
    this.leaseStart = this.now;
    this.syncProgress();
    this.appendLocal("noop", "");
  }

  // ---- private -------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      campaign(this, this.opts.preVote ? "pre" : "election");
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.opts.checkQuorum && !this.opts.bugs.noCheckQuorumStepDown) {
      if (this.now - Math.max(this.quorumAck(), this.leaseStart) >= this.opts.electionTicks) {
        this.becomeFollower(this.term, "");
        return;
      }
    }
    if (this.leadTransferee && this.electionElapsed >= this.opts.electionTicks) {
      // Transfer timed out. Votes forced by it may exist, so earlier acks no longer make a lease.
      this.leadTransferee = "";
      this.leaseStart = this.now;
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this, this.reads.lastContext());
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "appResp":
        handleAppResponse(this, m);
        return;
      case "heartbeatResp":
        handleHeartbeatResponse(this, m);
        return;
      case "snapResp":
        handleSnapResponse(this, m);
        return;
      case "readIndex":
        if (m.context !== undefined && this.committedInTerm() && this.incOk(m.from, m.fromInc)) {
          this.leaderRead(m.context, m.from);
        }
        return;
      default:
        return;
    }
  }

  private appendLocal(type: EntryType, data: string): Entry {
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.truncateAndAppend([e]);
    if (type === "config") this.refreshConfig();
    this.needBcast = true;
    return e;
  }

  /** After the commit index moved on a leader: a leader removed from the configuration hands over and steps down. */
  private afterLeaderCommit(): void {
    if (this.configIndex > this.log.committed || this.promotable()) return;
    let best = "";
    let bestMatch = -1;
    for (const v of voterIds(this.config)) {
      const pr = this.prs.get(v);
      if (pr && this.voterOk(v, pr.seenInc) && pr.match > bestMatch) {
        best = v;
        bestMatch = pr.match;
      }
    }
    bcastAppend(this, true);
    if (best) this.sendTimeoutNow(best);
    this.becomeFollower(this.term, "");
  }

  /** Creates progress for new members and drops it for removed ones. */
  private syncProgress(): void {
    const members = new Set(memberIds(this.config).filter((id) => id !== this.id));
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    for (const id of members) {
      const pr = this.prs.get(id);
      const inc = incarnationOf(this.config, id);
      // A member re-added under a new incarnation starts over: its old match is meaningless.
      if (!pr || pr.boundInc !== inc) this.prs.set(id, new Progress(this.log.lastIndex() + 1, inc));
    }
    if (this.leadTransferee && !members.has(this.leadTransferee)) this.leadTransferee = "";
  }

  private refuseUnlessLeader(): Outcome | undefined {
    if (this.state !== "leader") {
      return this.refuse(this.lead ? "NOT_LEADER" : "NO_LEADER", this.lead ? `leader is ${this.lead}` : "no leader");
    }
    if (this.leadTransferee) return this.refuse("TRANSFERRING", `leadership is moving to ${this.leadTransferee}`);
    return undefined;
  }

  private refuse(code: RefusalCode, message: string): Outcome {
    return { ok: false, code, message, lead: this.lead };
  }

  private resetRole(): void {
    this.resetTimers();
    this.leadTransferee = "";
    this.timeoutNowSent = false;
    this.votes.clear();
    this.reads.reset();
    if (this.state !== "leader") this.prs.clear();
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.opts.electionTicks + this.rng.int(0, this.opts.electionTicks);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { state: this.state, lead: this.lead, term: this.term };
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.state === b.state && a.lead === b.lead && a.term === b.term;
}
