/**
 * A tiny synchronous cluster for unit tests (in the spirit of etcd-io/raft's
 * `network`): every Ready is persisted to an in-memory disk and its messages
 * are delivered at once, unless a link is cut or a filter drops them.
 */
import { RaftCore } from "../../../node/src/raft/core.ts";
import type { CoreOptions, PlantedBugs } from "../../../node/src/raft/options.ts";
import { Rng } from "../../../node/src/raft/rng.ts";
import type {
  Entry,
  Incarnation,
  Membership,
  Message,
  NodeId,
  PersistedState,
  Ready,
  Snapshot,
} from "../../../node/src/raft/types.ts";

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
  /** Snapshots each node restored from its leader (Ready.snapshotRestore), in order. */
  readonly restored = new Map<NodeId, Snapshot[]>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  /** Return true to deliver a message twice in a row (a duplicating network). */
  dup: ((m: Message) => boolean) | undefined;
  /** Called for every Ready after it was persisted and before its messages go out and `advance` runs. */
  onReady: ((id: NodeId, rd: Ready, disk: TestDisk) => void) | undefined;
  private readonly opts: ClusterOptions;

  /**
   * Bootstraps `ids` as founding voters (incarnation `<id>.0`). `states`
   * replaces the bootstrap disk of some nodes (to start from hand-made logs).
   */
  constructor(ids: NodeId[], opts: ClusterOptions = {}, states: Record<NodeId, PersistedState> = {}) {
    this.opts = opts;
    const config: Membership = { voters: Object.fromEntries(ids.map((id) => [id, `${id}.0`])), learners: {} };
    for (const id of ids) {
      this.disks.set(id, { state: states[id] ?? RaftCore.bootstrap(`${id}.0`, config) });
      // The founding processes have been up for a while: past the start-up lease
      // a node keeps with lease reads (restarted nodes start from tick 0).
      this.start(id).now = 100;
    }
  }

  /** Wipes the disk of `id` and restarts it blank under a new incarnation. */
  wipe(id: NodeId, inc: Incarnation): RaftCore {
    this.disks.set(id, { state: RaftCore.blank(inc) });
    return this.start(id);
  }

  /** Crashes `id` and starts it again from its disk. */
  restart(id: NodeId): RaftCore {
    this.crash(id);
    return this.start(id);
  }

  /** True when `id` is crashed. */
  isDown(id: NodeId): boolean {
    return this.down.has(id);
  }

  /** Handles every pending Ready of `id` and returns its messages without delivering them. */
  drain(id: NodeId): Message[] {
    const c = this.core(id);
    const out: Message[] = [];
    while (c.hasReady()) out.push(...this.handle(id, c.ready()));
    return out;
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
    this.restored.set(id, []);
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

  /** Cuts only the direction from a to b (a one-way loss). */
  cutOneWay(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
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
    if (this.dup?.(m)) this.cores.get(m.to)?.step(m);
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
    if (rd.snapshot && rd.snapshotRestore) this.restored.get(id)?.push(rd.snapshot);
    this.applied.get(id)?.push(...rd.committed);
    this.onReady?.(id, rd, d);
    this.reads.get(id)?.push(...rd.readStates) ?? this.reads.set(id, [...rd.readStates]);
    const c = this.cores.get(id) as RaftCore;
    c.advance(rd);
    return rd.messages;
  }
}

/** The founding configuration the harness gives `ids` (incarnation `<id>.0`). */
export function votersOf(ids: NodeId[]): Membership {
  return { voters: Object.fromEntries(ids.map((id) => [id, `${id}.0`])), learners: {} };
}

/**
 * A hand-made disk for `id`: the bootstrap config of `voters` at index 1
 * (term 1), then one normal entry per element of `terms` (index 2, 3, ...).
 * The hard state defaults to the last term, no vote and commit 1.
 */
export function logState(
  id: NodeId,
  voters: NodeId[],
  terms: number[],
  hard: { term?: number; vote?: NodeId; commit?: number } = {},
): PersistedState {
  const boot = RaftCore.bootstrap(`${id}.0`, votersOf(voters));
  const entries: Entry[] = [...boot.entries];
  terms.forEach((term, k) => {
    entries.push({ term, index: k + 2, type: "normal", data: `e${k + 2}` });
  });
  const last = entries[entries.length - 1] as Entry;
  return {
    incarnation: `${id}.0`,
    hardState: { term: hard.term ?? last.term, vote: hard.vote ?? "", commit: hard.commit ?? 1 },
    entries,
  };
}

/** Messages recorded by the cluster that match `pred`. */
export function sentWhere(c: Cluster, pred: (m: Message) => boolean): Message[] {
  return c.sent.filter(pred);
}

/** Index and term of every entry of a core's log (for comparing logs). */
export function logOf(core: RaftCore): string[] {
  return core.log.entries.map((e) => `${e.index}:${e.term}`);
}

/** Takes every pending Ready of a standalone core (advancing each) and returns them. */
export function readies(core: RaftCore): Ready[] {
  const out: Ready[] = [];
  while (core.hasReady()) {
    const rd = core.ready();
    out.push(rd);
    core.advance(rd);
  }
  return out;
}

/** The messages of every pending Ready of a standalone core. */
export function outbox(core: RaftCore): Message[] {
  return readies(core).flatMap((rd) => rd.messages);
}

/** A message to `to` with the fields a test cares about; `fromInc` defaults to `<from>.0`. */
export function msg(m: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { fromInc: `${m.from}.0`, ...m };
}

/**
 * Drives a cluster through `steps` random events (ticks, proposals, lost
 * messages, partitions, crashes and restarts of one node at a time) from a
 * seed, then heals everything and lets it converge. `each` runs after every
 * step (to add events of a test's own). Returns the data proposed.
 */
export function churn(c: Cluster, seed: number, steps: number, each?: (step: number) => void): string[] {
  const rng = new Rng(seed);
  const ids = [...c.cores.keys()];
  const proposed: string[] = [];
  let crashed: NodeId | undefined;
  let drop = 0;
  c.filter = (m) => !rng.chance(drop) || m.type === "snap";
  for (let k = 0; k < steps; k++) {
    const r = rng.next();
    if (r < 0.5) c.tickAll(1);
    else if (r < 0.75) {
      const l = c.leader();
      if (l) {
        const data = `p${k}`;
        if (l.propose(data).ok) proposed.push(data);
        c.settle();
      }
    } else if (r < 0.82) drop = rng.pick([0, 0, 0.1, 0.3]);
    else if (r < 0.88) {
      c.heal();
      if (rng.chance(0.6)) c.isolate(rng.pick(ids));
    } else if (r < 0.94) {
      if (crashed) {
        c.start(crashed);
        crashed = undefined;
      } else {
        crashed = rng.pick(ids);
        c.crash(crashed);
      }
    } else c.tick(rng.pick(ids.filter((id) => id !== crashed)), 3);
    each?.(k);
  }
  if (crashed) c.start(crashed);
  c.filter = undefined;
  c.heal();
  c.tickAll(60);
  return proposed;
}
