import type { Rng } from "../../node/src/raft/rng.ts";
import type { Message, NodeId } from "../../node/src/raft/types.ts";

/** How hostile the simulated network is for one run. */
export interface NetworkProfile {
  dropRate: number;
  dupRate: number;
  /** Each message is delayed 1..maxDelay ticks, which also reorders them. */
  maxDelay: number;
}

interface InFlight {
  at: number;
  seq: number;
  m: Message;
}

/**
 * A simulated network: drops, duplicates, delays and reorders messages, and
 * cuts links between groups of nodes. Deterministic for a given Rng.
 */
export class SimNetwork {
  private queue: InFlight[] = [];
  private seq = 0;
  /** Pairs "a>b" whose messages are dropped. */
  private cut = new Set<string>();
  profile: NetworkProfile;
  sent = 0;
  delivered = 0;
  private readonly rng: Rng;

  /** A network with the given behaviour, drawing randomness from `rng`. */
  constructor(rng: Rng, profile: NetworkProfile) {
    this.rng = rng;
    this.profile = profile;
  }

  /** Queues a message sent at tick `now`. */
  send(m: Message, now: number): void {
    this.sent++;
    if (this.isCut(m.from, m.to)) return;
    if (this.rng.chance(this.profile.dropRate)) return;
    const copies = this.rng.chance(this.profile.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      this.queue.push({ at: now + this.rng.int(1, this.profile.maxDelay + 1), seq: this.seq++, m });
    }
  }

  /** Removes and returns the messages due at `now`, in a shuffled order; links cut meanwhile drop them. */
  due(now: number): Message[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.at <= now ? ready : rest).push(f);
    this.queue = rest;
    for (let i = ready.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i + 1);
      const t = ready[i] as InFlight;
      ready[i] = ready[j] as InFlight;
      ready[j] = t;
    }
    const out: Message[] = [];
    for (const f of ready) {
      if (this.isCut(f.m.from, f.m.to)) continue;
      this.delivered++;
      out.push(f.m);
    }
    return out;
  }

  /** Splits the nodes into groups that cannot reach each other; `bridge` nodes reach everyone. */
  partition(groups: NodeId[][], bridge: NodeId[] = []): void {
    this.cut.clear();
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) if (!bridge.includes(a) && !bridge.includes(b)) this.cut.add(`${a}>${b}`);
      }
    }
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** True while some link is cut. */
  isPartitioned(): boolean {
    return this.cut.size > 0;
  }

  /** Drops everything in flight to `id` (its process died). */
  dropTo(id: NodeId): void {
    this.queue = this.queue.filter((f) => f.m.to !== id);
  }

  private isCut(a: NodeId, b: NodeId): boolean {
    return this.cut.has(`${a}>${b}`);
  }
}
