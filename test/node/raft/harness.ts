/**
 * A tiny synchronous cluster for unit tests (in the spirit of etcd-io/raft's
 * `network`): every Ready is persisted to an in-memory disk and its messages
 * are delivered at once, unless a link is cut or a filter drops them.
 */
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { CoreOptions, PlantedBugs } from "../../../node/src/raft/options.ts";
import type { Entry, Membership, Message, NodeId, PersistedState, Ready } from "../../../node/src/raft/types.ts";

/** One node's durable state, as a test disk. */
export interface TestDisk {
  state: PersistedState;
}

/** Options for every core of a test cluster. */
export type ClusterOptions = Partial<Omit<CoreOptions, "id" | "seed">> & { bugs?: PlantedBugs };

/** A deterministic in-process cluster with manual message delivery. */
export class Cluster {
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, TestDisk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly reads = new Map<NodeId, { context: string; index: number }[]>();
  /** Messages that were sent, in order (for assertions). */
  readonly sent: Message[] = [];
  private cut = new Set<string>();
  private down = new Set<NodeId>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  private readonly opts: ClusterOptions;

  /** Bootstraps `ids` as founding voters (incarnation `<id>.0`). */
  constructor(ids: NodeId[], opts: ClusterOptions = {}) {
    this.opts = opts;
    const config: Membership = { voters: Object.fromEntries(ids.map((id) => [id, `${id}.0`])), learners: {} };
    for (const id of ids) {
      this.disks.set(id, { state: RaftCore.bootstrap(`${id}.0`, config) });
      this.start(id);
    }
  }

  /** Adds a node with an empty disk (to be added as a learner). */
  addBlank(id: NodeId, inc = `${id}.0`): void {
    this.disks.set(id, { state: RaftCore.blank(inc) });
    this.start(id);
  }

  /** (Re)starts a node from its disk. */
  start(id: NodeId): RaftCore {
    const d = this.disks.get(id) as TestDisk;
    const s = d.state;
    const core = new RaftCore(
      { id, seed: id.charCodeAt(id.length - 1), electionTicks: 10, heartbeatTicks: 1, ...this.opts },
      {
        incarnation: s.incarnation,
        hardState: { ...s.hardState },
        entries: s.entries.slice(),
        ...(s.snapshot ? { snapshot: s.snapshot } : {}),
      },
    );
    this.cores.set(id, core);
    this.applied.set(id, []);
    this.down.delete(id);
    return core;
  }

  /** The running core of `id`. */
  core(id: NodeId): RaftCore {
    const c = this.cores.get(id);
    if (!c || this.down.has(id)) throw new Error(`${id} is down`);
    return c;
  }

  /** Stops a node; its disk stays. */
  crash(id: NodeId): void {
    this.down.add(id);
  }

  /** Cuts both directions between a and b. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Isolates `id` from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.cores.keys()) if (other !== id) this.cutLink(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** Handles every Ready of every running node and delivers messages until quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const out: Message[] = [];
      for (const [id, c] of this.cores) {
        if (this.down.has(id)) continue;
        while (c.hasReady()) out.push(...this.handle(id, c.ready()));
      }
      if (out.length === 0) return;
      for (const m of out) this.deliver(m);
    }
    throw new Error("cluster did not settle");
  }

  /** Delivers one message now, if its link is up. */
  deliver(m: Message): void {
    this.sent.push(m);
    if (this.down.has(m.to) || this.cut.has(`${m.from}>${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    this.cores.get(m.to)?.step(m);
  }

  /** Ticks `id` n times, settling after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let k = 0; k < n; k++) {
      this.core(id).tick();
      this.settle();
    }
  }

  /** Ticks every running node n times. */
  tickAll(n = 1): void {
    for (let k = 0; k < n; k++) {
      for (const [id, c] of this.cores) if (!this.down.has(id)) c.tick();
      this.settle();
    }
  }

  /** Makes `id` campaign now (ticks it past its election timeout). */
  elect(id: NodeId): void {
    const c = this.core(id);
    for (let k = 0; k < 100 && c.state !== "leader"; k++) this.tick(id);
    if (c.state !== "leader") throw new Error(`${id} did not become leader`);
  }

  /** The single running leader, if any. */
  leader(): RaftCore | undefined {
    const ls = [...this.cores].filter(([id, c]) => !this.down.has(id) && c.state === "leader").map(([, c]) => c);
    return ls.sort((a, b) => b.term - a.term)[0];
  }

  /** Data of the normal entries `id` applied, in order. */
  appliedData(id: NodeId): string[] {
    return (this.applied.get(id) ?? []).filter((e) => e.type === "normal").map((e) => e.data);
  }

  private handle(id: NodeId, rd: Ready): Message[] {
    const d = this.disks.get(id) as TestDisk;
    const s = d.state;
    if (rd.snapshot) {
      s.snapshot = rd.snapshot;
      const idx = rd.snapshot.meta.index;
      s.entries = rd.snapshotRestore ? [] : s.entries.filter((e) => e.index > idx);
    }
    const first = rd.entries[0];
    if (first) s.entries = [...s.entries.filter((e) => e.index < first.index), ...rd.entries];
    if (rd.hardState) s.hardState = { ...rd.hardState };
    this.applied.get(id)?.push(...rd.committed);
    this.reads.get(id)?.push(...rd.readStates) ?? this.reads.set(id, [...rd.readStates]);
    const c = this.cores.get(id) as RaftCore;
    c.advance(rd);
    return rd.messages;
  }
}
