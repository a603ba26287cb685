/**
 * A small pure model of a RaftKV on Kubernetes for the planner's convergence test: a StatefulSet
 * (OnDelete), its pods and claims, and a Raft cluster reduced to its configuration, each member's match,
 * the commit index and who leads. Plans are applied to it; faults (crashes, wiped disks, leader changes,
 * new templates, some that cannot start, new sizes) are injected between steps from a seeded Prng.
 */

import type { NodeStatus, Observed, ObservedPod } from "../../../operator/src/plan/observed.ts";
import type { Plan } from "../../../operator/src/plan/step.ts";
import type { Prng } from "./prng.ts";

/** One entry of the Raft configuration. */
export interface ConfigEntry {
  id: string;
  role: "voter" | "learner";
  incarnation: string;
}

/** One pod. */
export interface ModelPod {
  ordinal: number;
  revision: string;
  /** The incarnation of its store (its claim's, or a new one per start for kvStore memory). */
  incarnation: string;
  /** Ticks until it answers (Infinity: its image cannot start). */
  startIn: number;
  /** Ticks it stays crashed. */
  downFor: number;
  deleting: boolean;
  /** Its store holds Raft state (it was bootstrapped or added). */
  hasState: boolean;
  /** The configuration it last knew, reported while it is not a current member. */
  staleConfig: ConfigEntry[];
}

const NAME = "kv";
const id = (ordinal: number) => `${NAME}-${ordinal}`;
const ordinalOf = (memberId: string) => Number(memberId.slice(NAME.length + 1));
const majority = (n: number) => Math.floor(n / 2) + 1;

/** The modelled cluster. All randomness comes from the Prng it is given. */
export class ClusterModel {
  readonly r: Prng;
  readonly kvStore: "leveldb" | "memory";
  desired: number;
  updateRevision = "rev-1";
  readonly badRevisions = new Set<string>();
  stsReplicas: number | undefined;
  readonly pods = new Map<number, ModelPod>();
  readonly claims = new Map<number, { incarnation: string; deleting: boolean }>();
  config: ConfigEntry[] = [];
  readonly match = new Map<string, number>();
  leader: string | undefined;
  term = 0;
  commit = 0;
  lastIndex = 0;
  /** Safety violations seen by the model itself (not by the planner's invariants). */
  readonly violations: string[] = [];
  private nextInc = 0;
  private nextRev = 1;

  /** A model that wants `desired` members. */
  constructor(r: Prng, desired: number, kvStore: "leveldb" | "memory") {
    this.r = r;
    this.desired = desired;
    this.kvStore = kvStore;
  }

  private newIncarnation(): string {
    this.nextInc++;
    return `inc-${this.nextInc}`;
  }

  private up(p: ModelPod | undefined): boolean {
    return p !== undefined && !p.deleting && p.startIn === 0 && p.downFor === 0;
  }

  private entry(memberId: string): ConfigEntry | undefined {
    return this.config.find((c) => c.id === memberId);
  }

  /** The member's pod answers under its configured incarnation. */
  private current(c: ConfigEntry): boolean {
    const p = this.pods.get(ordinalOf(c.id));
    return this.up(p) && p?.incarnation === c.incarnation;
  }

  /** Voters that could vote now: a majority of them means the cluster is available. */
  availableVoters(): number {
    return this.config.filter((c) => c.role === "voter" && this.current(c)).length;
  }

  /** The cluster can elect or keep a leader. */
  available(): boolean {
    const voters = this.config.filter((c) => c.role === "voter").length;
    return voters > 0 && this.availableVoters() >= majority(voters);
  }

  /** What a reconcile pass would observe now. */
  observe(): Observed {
    const pods: ObservedPod[] = [];
    const nodes: Observed["nodes"] = {};
    for (const p of [...this.pods.values()].sort((a, b) => a.ordinal - b.ordinal)) {
      const name = id(p.ordinal);
      const pod: ObservedPod = {
        name,
        ordinal: p.ordinal,
        phase: this.up(p) ? "Running" : "Pending",
        ready: this.up(p),
        deleting: p.deleting,
        revision: p.revision,
      };
      if (p.startIn === Number.POSITIVE_INFINITY)
        pod.startFailure = { reason: "ImagePullBackOff", message: "no such image" };
      pods.push(pod);
      if (!this.up(p)) {
        nodes[name] = { ok: false, error: "connect ECONNREFUSED" };
        continue;
      }
      const e = this.entry(name);
      const member = e !== undefined && e.incarnation === p.incarnation;
      const isLeader = name === this.leader;
      const m = this.match.get(name) ?? 0;
      const status: NodeStatus = {
        id: name,
        incarnation: p.incarnation,
        state: isLeader ? "leader" : "follower",
        term: this.term,
        leader: member && this.leader ? { id: this.leader } : null,
        commitIndex: member ? Math.min(this.commit, m) : 0,
        appliedIndex: member ? Math.min(this.commit, m) : 0,
        lastLogIndex: isLeader ? this.lastIndex : member ? m : 0,
        members: isLeader
          ? this.config.map((c) => ({ ...c, match: c.id === name ? this.lastIndex : (this.match.get(c.id) ?? 0) }))
          : member
            ? this.config.map((c) => ({ ...c }))
            : p.staleConfig.map((c) => ({ ...c })),
        lastContactMs: isLeader ? 0 : member && this.leader ? 40 : null,
      };
      nodes[name] = { ok: true, status };
    }
    return {
      desiredReplicas: this.desired,
      paused: false,
      statefulSet:
        this.stsReplicas === undefined
          ? undefined
          : {
              replicas: this.stsReplicas,
              readyReplicas: pods.filter((p) => p.ready && p.ordinal < (this.stsReplicas ?? 0)).length,
              updateRevision: this.updateRevision,
            },
      pods,
      claims: [...this.claims].map(([o, c]) => ({ name: `data-${id(o)}`, ordinal: o, deleting: c.deleting })),
      nodes,
    };
  }

  /** Applies a plan as the API server and the leader's admin API would; a refusal is a violation (false). */
  apply(plan: Plan): boolean {
    const bad = (m: string): boolean => {
      this.violations.push(`${m} (plan ${JSON.stringify(plan)})`);
      return false;
    };
    this.stsReplicas = plan.statefulSetReplicas;
    const a = plan.action;
    switch (a.kind) {
      case "none":
        return true;
      case "addLearner": {
        if (!this.leader) return bad("addLearner without a leader");
        const p = this.pods.get(ordinalOf(a.id));
        if (!this.up(p) || p?.incarnation !== a.incarnation)
          return bad(`addLearner of ${a.id} under a wrong incarnation`);
        const e = this.entry(a.id);
        if (e) {
          e.role = "learner";
          e.incarnation = a.incarnation;
        } else this.config.push({ id: a.id, role: "learner", incarnation: a.incarnation });
        this.match.set(a.id, 0);
        p.hasState = true;
        return true;
      }
      case "promote": {
        const e = this.entry(a.id);
        if (!this.leader || e?.role !== "learner") return bad(`promote of ${a.id}, not a learner`);
        if (!this.current(e)) return bad(`promote of ${a.id}, which answers under another incarnation`);
        e.role = "voter";
        return true;
      }
      case "removeMember": {
        if (!this.leader || !this.entry(a.id)) return bad(`remove of ${a.id}, not a member`);
        if (a.id === this.leader) return bad(`remove of the leader ${a.id}`);
        const p = this.pods.get(ordinalOf(a.id));
        if (p) p.staleConfig = this.config.map((c) => ({ ...c }));
        this.config = this.config.filter((c) => c.id !== a.id);
        this.match.delete(a.id);
        return true;
      }
      case "transferLeader": {
        const to = this.entry(a.to);
        if (a.from !== this.leader || to?.role !== "voter" || !this.current(to))
          return bad(`bad transfer ${a.from}->${a.to}`);
        // Raft's transfer first brings the target up to the leader's last entry, then hands over.
        this.match.set(a.to, this.lastIndex);
        this.elect(a.to);
        return true;
      }
      case "deletePod": {
        const p = this.pods.get(ordinalOf(a.pod));
        if (!p) return bad(`delete of absent pod ${a.pod}`);
        p.deleting = true;
        return true;
      }
      case "deleteClaim": {
        const o = Number(a.claim.slice(`data-${NAME}-`.length));
        const c = this.claims.get(o);
        if (!c) return bad(`delete of absent claim ${a.claim}`);
        if (this.pods.has(o)) bad(`delete of claim ${a.claim} while its pod exists`);
        if (this.entry(id(o))) bad(`delete of claim ${a.claim} of a member`);
        c.deleting = true;
        return true;
      }
    }
  }

  private elect(to: string): void {
    const m = to === this.leader ? this.lastIndex : (this.match.get(to) ?? 0);
    if (m < this.commit) this.violations.push(`new leader ${to} lacks committed entries (${m} < ${this.commit})`);
    this.leader = to;
    this.term++;
    this.lastIndex = Math.max(m, this.commit);
    for (const [k, v] of this.match) this.match.set(k, Math.min(v, this.lastIndex));
  }

  /** One step of the world: the StatefulSet controller, pods starting, elections, replication. */
  tick(): void {
    const r = this.r;
    this.snapshotStores();
    for (const [o, c] of this.claims) if (c.deleting && !this.pods.has(o)) this.claims.delete(o);
    for (const [o, p] of this.pods) {
      if (p.deleting) {
        this.pods.delete(o);
        continue;
      }
      if (p.startIn > 0) p.startIn--;
      if (p.downFor > 0) {
        p.downFor--;
        if (p.downFor === 0 && this.kvStore === "memory") this.wipe(p);
      }
    }
    if (this.stsReplicas !== undefined) {
      for (const [o, p] of this.pods) {
        if (o < this.stsReplicas) continue;
        if (this.entry(id(o))) this.violations.push(`the StatefulSet deletes ${id(o)}, still a member`);
        p.deleting = true;
      }
      for (let o = 0; o < this.stsReplicas; o++) if (!this.pods.has(o)) this.createPod(o);
    }
    // Bootstrap, once, when every expected pod answers without state (kvStore memory may need it again).
    const expected = [...Array(this.stsReplicas ?? 0).keys()].map((o) => this.pods.get(o));
    if (!this.leader && expected.length > 0 && expected.every((p) => this.up(p) && !p?.hasState)) {
      const p0 = expected[0] as ModelPod;
      p0.hasState = true;
      this.config = [{ id: id(0), role: "voter", incarnation: p0.incarnation }];
      this.match.clear();
      this.leader = id(0);
      this.term++;
      this.commit = this.lastIndex = 1;
    }
    const lead = this.leader ? this.entry(this.leader) : undefined;
    const leadOk = lead !== undefined && lead.role === "voter" && this.current(lead) && this.available();
    if (this.leader && !leadOk) this.leader = undefined;
    if (!this.leader && this.available()) {
      const candidates = this.config.filter((c) => c.role === "voter" && this.current(c));
      candidates.sort((a, b) => (this.match.get(b.id) ?? 0) - (this.match.get(a.id) ?? 0));
      this.elect((candidates[0] as ConfigEntry).id);
    }
    if (!this.leader) return;
    this.lastIndex += r.int(0, 5);
    this.match.set(this.leader, this.lastIndex);
    for (const c of this.config) {
      if (c.id === this.leader || !this.current(c)) continue;
      this.match.set(c.id, Math.min(this.lastIndex, (this.match.get(c.id) ?? 0) + r.int(0, 600)));
    }
    const acks = this.config
      .filter((c) => c.role === "voter")
      .map((c) => (this.current(c) ? (this.match.get(c.id) ?? 0) : 0))
      .sort((a, b) => b - a);
    const k = acks[majority(acks.length) - 1] ?? 0;
    this.commit = Math.max(this.commit, k);
  }

  private createPod(o: number): void {
    let incarnation: string;
    if (this.kvStore === "leveldb") {
      const c = this.claims.get(o);
      if (c?.deleting) return; // the StatefulSet waits for the old claim to go
      if (c) incarnation = c.incarnation;
      else {
        incarnation = this.newIncarnation();
        this.claims.set(o, { incarnation, deleting: false });
      }
    } else incarnation = this.newIncarnation();
    const hasState = this.storeHadState.has(incarnation);
    this.pods.set(o, {
      ordinal: o,
      revision: this.updateRevision,
      incarnation,
      startIn: this.badRevisions.has(this.updateRevision) ? Number.POSITIVE_INFINITY : this.r.int(1, 3),
      downFor: 0,
      deleting: false,
      hasState,
      staleConfig: hasState ? (this.storeConfig.get(incarnation) ?? []) : [],
    });
  }

  /** Stores (by incarnation) that hold Raft state, and the configuration they last held: they outlive pods. */
  private readonly storeHadState = new Set<string>();
  private readonly storeConfig = new Map<string, ConfigEntry[]>();

  /** Remembers what each pod's store holds, so a recreated pod on the same claim comes back with it. */
  private snapshotStores(): void {
    for (const p of this.pods.values()) {
      if (!p.hasState) continue;
      this.storeHadState.add(p.incarnation);
      const e = this.entry(id(p.ordinal));
      this.storeConfig.set(
        p.incarnation,
        e?.incarnation === p.incarnation ? this.config.map((c) => ({ ...c })) : p.staleConfig,
      );
    }
  }

  private wipe(p: ModelPod): void {
    p.incarnation = this.newIncarnation();
    p.hasState = false;
    p.staleConfig = [];
    if (this.kvStore === "leveldb") this.claims.set(p.ordinal, { incarnation: p.incarnation, deleting: false });
  }

  /** Whether losing pod o's store would leave the configuration without an available majority. */
  private wouldLoseData(o: number): boolean {
    const voters = this.config.filter((c) => c.role === "voter");
    const keep = voters.filter((c) => ordinalOf(c.id) !== o && this.current(c)).length;
    return voters.length > 0 && keep < majority(voters.length);
  }

  /** One random fault or user change. */
  fault(): string {
    const r = this.r;
    const pods = [...this.pods.values()].filter((p) => this.up(p));
    const kind = r.int(0, 9);
    if (kind <= 2 && pods.length > 0) {
      const p = r.pick(pods);
      // A crash of a memory store is a wipe: keep it recoverable, as the wipe below does.
      if (this.kvStore === "memory" && this.wouldLoseData(p.ordinal)) return "none";
      p.downFor = r.int(1, 6);
      return `crash ${id(p.ordinal)}`;
    }
    if (kind === 3 && pods.length > 0) {
      const p = r.pick(pods);
      if (this.wouldLoseData(p.ordinal)) return "none";
      this.wipe(p);
      p.downFor = r.int(1, 3);
      return `wipe ${id(p.ordinal)}`;
    }
    if (kind === 4 && this.leader) {
      const ok = this.config.filter(
        (c) => c.role === "voter" && this.current(c) && (this.match.get(c.id) ?? 0) >= this.commit,
      );
      if (ok.length > 0) {
        const to = r.pick(ok).id;
        this.elect(to);
        return `leader -> ${to}`;
      }
      return "none";
    }
    if (kind === 5) {
      this.desired = r.int(1, 9);
      return `desired ${this.desired}`;
    }
    if (kind === 6) {
      this.newRevision(r.chance(0.25));
      return `template ${this.updateRevision}`;
    }
    return "none";
  }

  /** A new pod template; `bad` ones cannot start (ImagePullBackOff). */
  newRevision(bad: boolean): void {
    this.nextRev++;
    this.updateRevision = `rev-${this.nextRev}`;
    if (bad) this.badRevisions.add(this.updateRevision);
  }

  /** The state in one line per part, for a failing seed's report. */
  describe(): string {
    const pods = [...this.pods.values()]
      .sort((a, b) => a.ordinal - b.ordinal)
      .map(
        (p) =>
          `${id(p.ordinal)}:${p.incarnation}:${p.revision}${this.up(p) ? "" : ":down"}${p.deleting ? ":deleting" : ""}`,
      );
    const config = this.config.map((c) => `${c.id}:${c.role}:${c.incarnation}:m${this.match.get(c.id) ?? "-"}`);
    return [
      `sts=${this.stsReplicas} desired=${this.desired} rev=${this.updateRevision} leader=${this.leader} term=${this.term} commit=${this.commit} last=${this.lastIndex}`,
      `pods ${pods.join(" ")}`,
      `config ${config.join(" ")}`,
      `claims ${[...this.claims].map(([o, c]) => `${o}:${c.incarnation}${c.deleting ? ":deleting" : ""}`).join(" ")}`,
    ].join("\n  ");
  }

  /** Why the cluster has not converged to the desired healthy, updated voters, or undefined. */
  notConverged(): string | undefined {
    if (this.stsReplicas !== this.desired)
      return `StatefulSet has ${this.stsReplicas} replicas, ${this.desired} wanted`;
    if (!this.leader) return "no leader";
    for (let o = 0; o < this.desired; o++) {
      const e = this.entry(id(o));
      const p = this.pods.get(o);
      if (e === undefined || e.role !== "voter" || !this.current(e)) return `${id(o)} is not a current voter`;
      if (p?.revision !== this.updateRevision) return `${id(o)} runs ${p?.revision}`;
      if (this.commit - (e.id === this.leader ? this.lastIndex : (this.match.get(e.id) ?? 0)) > 64)
        return `${id(o)} lags`;
    }
    if (this.config.length !== this.desired) return `configuration has ${this.config.length} members`;
    const extraClaims = [...this.claims.keys()].filter((o) => o >= this.desired);
    if (extraClaims.length > 0) return `leftover claims ${extraClaims.join(",")}`;
    if (this.pods.size !== this.desired) return `${this.pods.size} pods`;
    return undefined;
  }
}
