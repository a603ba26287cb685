import { RaftCore } from "../../node/src/raft/core.ts";
import { incarnationOf, latestConfig, voterIds } from "../../node/src/raft/membership.ts";
import type { CoreOptions, PlantedBugs } from "../../node/src/raft/options.ts";
import { majority } from "../../node/src/raft/quorum.ts";
import { Rng } from "../../node/src/raft/rng.ts";
import type { Membership, NodeId } from "../../node/src/raft/types.ts";
import { Checker, Violation } from "./checker.ts";
import { SimNetwork } from "./network.ts";
import { type SimCommand, SimNode } from "./sim-node.ts";

/** Planted bugs of the core plus the adapter-level one the simulator models itself. */
export type SimBugs = PlantedBugs & { replyBeforePersist?: boolean };

/** One simulated run. */
export interface RunOptions {
  seed: number;
  nodes: number;
  bugs?: SimBugs;
  /** Ticks of faults before healing. */
  faultTicks?: number;
  /** Ticks allowed after healing for a leader and full convergence. */
  healTicks?: number;
  /**
   * `default` draws every setting at random; `figure8` always kills young
   * leaders and sends one entry per message, the schedule that exposes
   * commits of earlier-term entries (Raft paper, Figure 8).
   */
  profile?: "default" | "figure8";
}

/** What a run did and whether a property failed. */
export interface RunResult {
  seed: number;
  nodes: number;
  violation?: string;
  ticks: number;
  stats: Record<string, number>;
  /** The randomly drawn network and core settings of this seed. */
  params: Record<string, number>;
}

/** Runs one seed: faults for a while, then heal and demand convergence. Never throws. */
export function runSeed(o: RunOptions): RunResult {
  const sim = new Simulation(o);
  try {
    sim.run();
    return { seed: o.seed, nodes: o.nodes, ticks: sim.now, stats: sim.stats, params: sim.params };
  } catch (e) {
    const msg = e instanceof Violation ? e.message : `core threw: ${e instanceof Error ? e.stack : String(e)}`;
    return { seed: o.seed, nodes: o.nodes, ticks: sim.now, stats: sim.stats, params: sim.params, violation: msg };
  }
}

class Simulation {
  now = 0;
  readonly stats: Record<string, number> = {
    proposals: 0,
    acked: 0,
    reads: 0,
    crashes: 0,
    wipes: 0,
    partitions: 0,
    pauses: 0,
    confChanges: 0,
    transfers: 0,
    snapshots: 0,
  };
  private readonly rng: Rng;
  private readonly net: SimNetwork;
  private readonly checker = new Checker();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private readonly o: Required<Omit<RunOptions, "bugs">> & { bugs: SimBugs };
  private readonly leaseRead: boolean;
  private readonly compactEvery: number;
  private readonly pending = new Map<string, { index: number; term: number }>();
  private paused = new Map<NodeId, number>();
  private incCounter = 0;
  params: Record<string, number> = {};
  /** In churn runs: ticks a leader lives before it may be killed (0: no churn). */
  private readonly churn: number;
  private readonly leaderSince = new Map<string, number>();
  private readCounter = 0;
  private faults = true;

  constructor(o: RunOptions) {
    this.o = { faultTicks: 600, healTicks: 3000, bugs: {}, profile: "default", ...o };
    this.rng = new Rng(o.seed * 2654435761 + 1);
    const r = this.rng;
    this.net = new SimNetwork(r, {
      dropRate: r.pick([0, 0.02, 0.1]),
      dupRate: r.pick([0, 0.02]),
      maxDelay: r.pick([1, 2, 3]),
    });
    this.leaseRead = r.chance(0.5);
    this.compactEvery = r.pick([5, 20, 100]);
    const f8 = this.o.profile === "figure8";
    const entriesPerMsg = f8 ? 1 : r.pick([1, 1, 3, 64]);
    const inflight = f8 ? 1 : r.pick([1, 2, 8]);
    this.churn = f8 ? r.int(1, 4) : r.chance(0.3) ? r.int(1, 8) : 0;
    const chunk = r.pick([8, 64, 100000]);
    const catchUp = r.pick([20, 100]);
    this.params = {
      entriesPerMsg,
      inflight,
      chunk,
      catchUp,
      churn: this.churn,
      compactEvery: this.compactEvery,
      lease: this.leaseRead ? 1 : 0,
      ...this.net.profile,
    };
    this.ids = Array.from({ length: o.nodes }, (_, k) => `n${k + 1}`);
    const founders = r.chance(0.5) ? this.ids : [this.ids[0] as NodeId];
    const incs = new Map(this.ids.map((id) => [id, this.newInc(id)]));
    const config: Membership = { voters: {}, learners: {} };
    for (const id of founders) config.voters[id] = incs.get(id) as string;
    for (const id of this.ids) {
      const inc = incs.get(id) as string;
      const disk = founders.includes(id) ? RaftCore.bootstrap(inc, config) : RaftCore.blank(inc);
      const options = (): CoreOptions => ({
        id,
        seed: r.int(0, 2 ** 31),
        electionTicks: 10,
        heartbeatTicks: 2,
        leaseRead: this.leaseRead && !f8,
        // Figure 8 needs elections right after a leader dies: no leases to wait out.
        preVote: !f8,
        checkQuorum: !f8,
        maxEntriesPerMsg: entriesPerMsg,
        maxInflight: inflight,
        snapshotChunkSize: chunk,
        catchUpEntries: catchUp,
        bugs: this.o.bugs,
      });
      const node = new SimNode(id, disk, options, this.observer(), this.o.bugs.replyBeforePersist === true);
      if (this.churn) {
        // Leaders die right after persisting a commit advance, before telling anyone.
        node.failpoint = (nd, rd, prevCommit) => {
          if (!this.faults || nd.core?.state !== "leader") return false;
          // A new leader dies holding its unreplicated no-op, or a leader dies right after advancing its commit.
          const fresh = rd.softState?.state === "leader";
          const committed = rd.hardState !== undefined && rd.hardState.commit > prevCommit;
          if (!((fresh && r.chance(0.3)) || (committed && r.chance(0.2)))) return false;
          // A reactive nemesis: heal right after a young leader dies, so an old leader holding
          // entries it wrote in a minority can come back and win.
          if (fresh && this.o.profile === "figure8" && r.chance(0.5)) this.net.heal();
          this.afterFailpoint(nd);
          return true;
        };
      }
      if (this.churn) {
        // Leaders die after their appends left and before their own write of the same entries.
        node.failpointBeforePersist = (nd, rd) => {
          if (!this.faults || rd.entries.length === 0 || !r.chance(0.05)) return false;
          this.afterFailpoint(nd);
          return true;
        };
      }
      node.start();
      this.nodes.set(id, node);
    }
  }

  run(): void {
    const total = this.o.faultTicks + this.o.healTicks;
    while (this.now < total) {
      if (this.now === this.o.faultTicks) this.heal();
      this.step();
      if (!this.faults && this.converged()) {
        this.checker.checkAcked();
        return;
      }
    }
    throw new Violation(
      `liveness: no convergence ${this.o.healTicks} ticks after healing (${this.describe()}) ${JSON.stringify(this.leader()?.core?.status())}`,
    );
  }

  private step(): void {
    this.now++;
    for (const m of this.net.due(this.now)) {
      const n = this.nodes.get(m.to);
      if (n?.core && !this.paused.has(n.id)) n.core.step(m);
    }
    for (const n of this.nodes.values()) if (n.core && !this.paused.has(n.id)) n.core.tick();
    if (this.faults) this.injectFaults();
    this.clients();
    this.operator();
    for (const n of this.nodes.values()) {
      if (!n.core || this.paused.has(n.id)) continue;
      if (n.applied - (n.core.snapshot?.meta.index ?? 0) >= this.compactEvery && this.rng.chance(0.3)) {
        n.compact();
        this.stats.snapshots = (this.stats.snapshots ?? 0) + 1;
      }
      for (const m of n.process()) this.net.send(m, this.now);
    }
    this.checker.check(this.nodes);
    this.checker.serveReads(this.nodes);
  }

  private heal(): void {
    this.faults = false;
    this.net.heal();
    this.net.profile = { dropRate: 0, dupRate: 0, maxDelay: 1 };
    for (const id of [...this.paused.keys()]) this.resume(id);
    for (const n of this.nodes.values()) if (!n.up) this.restart(n);
  }

  /** Converged: one leader, every node a voter under its current incarnation, everything acknowledged applied everywhere. */
  private converged(): boolean {
    const l = this.leader();
    if (!l?.core) return false;
    const c = l.core;
    if (c.configIndex > c.log.committed || !c.committedInTerm()) return false;
    for (const n of this.nodes.values()) {
      if (!n.core || c.config.voters[n.id] !== n.disk.incarnation) return false;
      if (n.applied < c.log.committed || c.log.committed < this.checker.maxAcked) return false;
    }
    return true;
  }

  private describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        const c = n.core;
        if (!c) return `${n.id}:down`;
        return `${n.id}:${c.state}/t${c.term}/c${c.log.committed}/a${n.applied}/l${c.log.lastIndex()}/v${voterIds(c.config).join("+")}`;
      })
      .join(" ");
  }

  // ---- faults ------------------------------------------------------------------

  private injectFaults(): void {
    const r = this.rng;
    const up = [...this.nodes.values()].filter((n) => n.up);
    const leader = this.leader();
    if (r.chance(0.004) && up.length > 0) this.crash(leader && r.chance(0.5) ? leader : r.pick(up));
    // Leader churn: kill leaders a few ticks into their term, so that logs of
    // many terms interleave (the Figure 8 situations of the Raft paper).
    if (this.churn && leader?.core) {
      const since = this.leaderSince.get(`${leader.id}/${leader.core.term}`) ?? this.now;
      this.leaderSince.set(`${leader.id}/${leader.core.term}`, since);
      if (this.now - since >= this.churn && r.chance(0.5)) this.crash(leader);
    }
    for (const n of this.nodes.values()) if (!n.up && r.chance(this.churn ? 0.2 : 0.05)) this.restart(n);
    if (r.chance(0.002) && up.length > 0) {
      const victim = leader && r.chance(0.7) ? leader : r.pick(up);
      if (!this.paused.has(victim.id)) {
        this.paused.set(victim.id, this.now);
        this.stats.pauses = (this.stats.pauses ?? 0) + 1;
      }
    }
    for (const id of [...this.paused.keys()]) if (r.chance(0.05)) this.resume(id);
    if (r.chance(0.0015)) this.wipe();
    if (!this.net.isPartitioned() && r.chance(0.006)) this.partition(leader?.id);
    else if (this.net.isPartitioned() && r.chance(0.02)) this.net.heal();
    if (leader?.core && r.chance(0.004)) {
      const voters = voterIds(leader.core.config).filter((v) => v !== leader.id);
      if (voters.length > 0) {
        leader.core.transferLeader(r.pick(voters));
        this.stats.transfers = (this.stats.transfers ?? 0) + 1;
      }
    }
  }

  private crash(victim: SimNode): void {
    victim.crash();
    this.afterFailpoint(victim);
  }

  /** Bookkeeping for a node that just died (by a fault or a failpoint). */
  private afterFailpoint(victim: SimNode): void {
    this.forget(victim.id);
    this.net.dropTo(victim.id);
    this.paused.delete(victim.id);
    this.checker.restarted(victim);
    this.stats.crashes = (this.stats.crashes ?? 0) + 1;
  }

  private restart(n: SimNode): void {
    n.start();
    this.checker.restarted(n);
  }

  /** A paused process missed ticks; like the real node's clock, it catches up before handling anything else. */
  private resume(id: NodeId): void {
    const since = this.paused.get(id) ?? this.now;
    this.paused.delete(id);
    const n = this.nodes.get(id);
    if (!n?.core) return;
    for (let t = since; t < this.now; t++) n.core.tick();
  }

  private partition(leader: NodeId | undefined): void {
    const r = this.rng;
    const shuffled = this.ids.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = r.int(0, i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j] as NodeId, shuffled[i] as NodeId];
    }
    const kind = r.int(0, this.o.profile === "figure8" ? 4 : 3);
    this.stats.partitions = (this.stats.partitions ?? 0) + 1;
    if (kind === 3 && leader) {
      // The leader keeps one follower: writes land on a minority only.
      const mate = r.pick(this.ids.filter((id) => id !== leader));
      this.net.partition([[leader, mate], this.ids.filter((id) => id !== leader && id !== mate)]);
    } else if (kind === 0 && leader) {
      this.net.partition([[leader], this.ids.filter((id) => id !== leader)]);
    } else if (kind === 1) {
      const k = r.int(1, Math.ceil(this.ids.length / 2));
      this.net.partition([shuffled.slice(0, k), shuffled.slice(k)]);
    } else {
      // Two halves that share one bridge node.
      const k = Math.floor(this.ids.length / 2);
      this.net.partition([shuffled.slice(0, k), shuffled.slice(k)], [shuffled[k] as NodeId]);
    }
  }

  /** Wipes one node's disk, as a pod that lost its volume, if the data of a quorum survives it. */
  private wipe(): void {
    const l = this.leader();
    if (!l?.core) return;
    const victim = this.rng.pick(this.ids);
    // The oracle of a careful operator: every configuration any node holds (appended, maybe
    // uncommitted) must keep a healthy majority without the victim. Learners count in the
    // quorum size: one may be promoted before the leader notices it was wiped.
    for (const config of this.knownConfigs()) {
      const members = voterIds(config).length + Object.keys(config.learners).length;
      const healthy = voterIds(config).filter(
        (v) => v !== victim && this.nodes.get(v)?.disk.incarnation === config.voters[v],
      );
      if (healthy.length < majority(members)) return;
    }
    const n = this.nodes.get(victim) as SimNode;
    n.wipe(this.newInc(victim));
    this.forget(victim);
    this.net.dropTo(victim);
    this.paused.delete(victim);
    this.checker.wiped(n);
    n.start();
    this.stats.wipes = (this.stats.wipes ?? 0) + 1;
  }

  // ---- clients and operator ------------------------------------------------------

  private clients(): void {
    const r = this.rng;
    const up = [...this.nodes.values()].filter((n) => n.core && !this.paused.has(n.id));
    if (up.length === 0) return;
    if (r.chance(0.3)) {
      const n = r.pick(up);
      const target = n.core?.state === "leader" ? n : this.nodes.get(n.core?.lead ?? "");
      if (target?.core && !this.paused.has(target.id)) {
        const cmd: SimCommand = { key: `k${r.int(0, 5)}`, value: `v${this.now}.${r.int(0, 1e9)}` };
        const out = target.core.propose(JSON.stringify(cmd));
        this.stats.proposals = (this.stats.proposals ?? 0) + 1;
        if (out.ok) this.pending.set(`${target.id}@${out.index}`, { index: out.index, term: out.term });
      }
    }
    if (r.chance(0.2)) {
      const n = r.pick(up);
      const ctx = `r${this.readCounter++}`;
      this.checker.readStarted(ctx, n.id, this.now);
      n.core?.readIndex(ctx);
      this.stats.reads = (this.stats.reads ?? 0) + 1;
    }
  }

  /** What an operator does: re-add wiped members, add missing nodes as learners, promote caught-up learners, sometimes remove one. */
  private operator(): void {
    const r = this.rng;
    const l = this.leader();
    const c = l?.core;
    if (!c || this.paused.has(l.id) || c.configIndex > c.log.committed || !c.committedInTerm()) return;
    if (!r.chance(this.faults ? 0.05 : 0.5)) return;
    const change = (out: { ok: boolean }) => {
      if (out.ok) this.stats.confChanges = (this.stats.confChanges ?? 0) + 1;
    };
    const stale = c.staleMembers()[0];
    if (stale) {
      change(c.proposeConfChange({ op: "addLearner", id: stale.id, incarnation: stale.seen }));
      return;
    }
    for (const id of Object.keys(c.config.learners).sort()) {
      const pr = c.prs.get(id);
      if (pr && pr.match >= c.log.committed) {
        change(c.proposeConfChange({ op: "promote", id }));
        return;
      }
    }
    for (const id of this.ids) {
      const n = this.nodes.get(id) as SimNode;
      if (incarnationOf(c.config, id) === undefined && n.up) {
        change(c.proposeConfChange({ op: "addLearner", id, incarnation: n.disk.incarnation }));
        return;
      }
    }
    if (this.faults && r.chance(0.1)) {
      const voters = voterIds(c.config);
      const victim = r.pick([...voters, ...Object.keys(c.config.learners)]);
      const remaining = voters.filter((v) => v !== victim);
      const healthy = remaining.filter((v) => this.nodes.get(v)?.disk.incarnation === c.config.voters[v]);
      if (remaining.length >= 2 && healthy.length >= majority(remaining.length)) {
        change(c.proposeConfChange({ op: "remove", id: victim }));
      }
    }
  }

  // ---- helpers -----------------------------------------------------------------

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.core?.state === "leader" && (!best?.core || n.core.term > best.core.term)) best = n;
    }
    return best;
  }

  /** The configuration each node holds, running or not (read from its disk when down). */
  private knownConfigs(): Membership[] {
    return [...this.nodes.values()].map((n) => {
      if (n.core) return n.core.config;
      return latestConfig(n.disk.entries)?.config ?? n.disk.snapshot?.meta.config ?? { voters: {}, learners: {} };
    });
  }

  /** A crashed node's clients lost their connections: their writes have unknown outcomes, never acknowledgements. */
  private forget(id: NodeId): void {
    for (const key of [...this.pending.keys()]) if (key.startsWith(`${id}@`)) this.pending.delete(key);
  }

  private newInc(id: NodeId): string {
    return `${id}.${this.incCounter++}`;
  }

  private observer() {
    return {
      applied: (node: SimNode, e: import("../../node/src/raft/types.ts").Entry) => {
        this.checker.applied(node, e);
        const key = `${node.id}@${e.index}`;
        const p = this.pending.get(key);
        if (p) {
          this.pending.delete(key);
          if (p.term === e.term) {
            this.checker.ack(e.index, e.term);
            this.stats.acked = (this.stats.acked ?? 0) + 1;
          }
        }
      },
      readReady: (node: SimNode, rs: import("../../node/src/raft/types.ts").ReadState) =>
        this.checker.readReady(node, rs),
      persisted: (node: SimNode) => this.checker.persisted(node),
    };
  }
}
