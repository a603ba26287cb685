import type { Entry, NodeId, ReadState } from "../../node/src/raft/types.ts";
import type { SimNode } from "./sim-node.ts";

/** Thrown when a Raft safety property fails; the run stops at once. */
export class Violation extends Error {}

interface PendingRead {
  node: NodeId;
  /** The newest acknowledged write when the read started: the read must see at least this. */
  required: number;
  index?: number;
  start: number;
}

/**
 * Raft's safety properties (Raft paper Figure 3), checked against every
 * node after every simulated tick, plus the client-visible guarantees:
 * acknowledged writes stay, and ReadIndex reads are never stale.
 */
export class Checker {
  private leaders = new Map<number, NodeId>();
  /** `${index}/${term}` -> the entry's content and the term before it (log matching by induction). */
  private entries = new Map<string, { body: string; prevTerm: number }>();
  private appliedAt = new Map<number, string>();
  private committedAt = new Map<number, number>();
  /** For each term in which commits were observed, the highest committed index and its entry term. */
  private maxCommitByTerm = new Map<number, { index: number; term: number }>();
  private scannedCommit = new Map<NodeId, number>();
  private lastCommit = new Map<NodeId, number>();
  private diskCommit = new Map<NodeId, number>();
  private reads = new Map<string, PendingRead>();
  /** Highest index of a write the client saw acknowledged, and all acknowledged writes. */
  maxAcked = 0;
  acked: { index: number; term: number }[] = [];
  readsServed = 0;

  /** Called for every entry a node applies: state-machine safety. */
  applied(node: SimNode, e: Entry): void {
    const body = `${e.term}|${e.type}|${e.data}`;
    const prev = this.appliedAt.get(e.index);
    if (prev === undefined) this.appliedAt.set(e.index, body);
    else if (prev !== body) {
      throw new Violation(
        `state machine safety: ${node.id} applied ${body} at ${e.index}, another node applied ${prev}`,
      );
    }
  }

  /** A write the client saw succeed. */
  ack(index: number, term: number): void {
    this.acked.push({ index, term });
    if (index > this.maxAcked) this.maxAcked = index;
  }

  /** Called after every disk write: the durable commit index never goes back. */
  persisted(node: SimNode): void {
    const c = node.disk.hardState.commit;
    const prev = this.diskCommit.get(node.id) ?? 0;
    if (c < prev) throw new Violation(`durable commit of ${node.id} went back from ${prev} to ${c}`);
    this.diskCommit.set(node.id, c);
  }

  /** A node lost its disk: its durable history starts over. */
  wiped(node: SimNode): void {
    this.diskCommit.delete(node.id);
    this.restarted(node);
  }

  /** A node restarted: its in-memory commit starts again from disk. */
  restarted(node: SimNode): void {
    this.lastCommit.delete(node.id);
    this.scannedCommit.delete(node.id);
    for (const [ctx, r] of this.reads) if (r.node === node.id) this.reads.delete(ctx);
  }

  /** A client started a linearizable read at `node`. */
  readStarted(ctx: string, node: NodeId, now: number): void {
    this.reads.set(ctx, { node, required: this.maxAcked, start: now });
  }

  /** The core released a read at `rs.index`. */
  readReady(node: SimNode, rs: ReadState): void {
    const r = this.reads.get(rs.context);
    if (r && r.node === node.id && r.index === undefined) r.index = rs.index;
  }

  /** Serves every released read whose index the node has applied, and checks it is not stale. */
  serveReads(nodes: Map<NodeId, SimNode>): void {
    for (const [ctx, r] of this.reads) {
      if (r.index === undefined) continue;
      const n = nodes.get(r.node);
      if (!n?.up) {
        this.reads.delete(ctx);
        continue;
      }
      if (n.applied < r.index) continue;
      this.reads.delete(ctx);
      this.readsServed++;
      if (n.applied < r.required) {
        throw new Violation(
          `stale read ${ctx} on ${r.node}: served at applied ${n.applied} (read index ${r.index}) but write ${r.required} was acknowledged before the read started at tick ${r.start}`,
        );
      }
    }
  }

  /** Checks election safety, log matching, commit monotonicity and leader completeness on every running node. */
  check(nodes: Map<NodeId, SimNode>): void {
    for (const n of nodes.values()) {
      const c = n.core;
      if (!c) continue;
      if (c.state === "leader") {
        const l = this.leaders.get(c.term);
        if (l === undefined) this.leaders.set(c.term, n.id);
        else if (l !== n.id) throw new Violation(`election safety: ${l} and ${n.id} both led term ${c.term}`);
      }
      const lc = this.lastCommit.get(n.id) ?? 0;
      if (c.log.committed < lc) throw new Violation(`commit of ${n.id} went back from ${lc} to ${c.log.committed}`);
      this.lastCommit.set(n.id, c.log.committed);

      let prevTerm = c.log.snapTerm;
      for (const e of c.log.entries) {
        const key = `${e.index}/${e.term}`;
        const body = `${e.type}|${e.data}`;
        const seen = this.entries.get(key);
        if (!seen) this.entries.set(key, { body, prevTerm });
        else if (seen.body !== body || seen.prevTerm !== prevTerm) {
          throw new Violation(`log matching: ${n.id} has a different entry or predecessor at ${key}`);
        }
        prevTerm = e.term;
      }

      const from = Math.max(this.scannedCommit.get(n.id) ?? 0, c.log.snapIndex);
      for (let i = from + 1; i <= c.log.committed; i++) {
        const t = c.log.term(i);
        if (t === undefined) continue;
        const known = this.committedAt.get(i);
        if (known === undefined) {
          this.committedAt.set(i, t);
          const m = this.maxCommitByTerm.get(c.term);
          if (!m || m.index < i) this.maxCommitByTerm.set(c.term, { index: i, term: t });
        } else if (known !== t) {
          throw new Violation(`${n.id} committed term ${t} at ${i}, another node committed term ${known}`);
        }
      }
      this.scannedCommit.set(n.id, c.log.committed);
    }
    for (const n of nodes.values()) {
      const c = n.core;
      if (c?.state !== "leader") continue;
      // Leader completeness: a leader holds every entry committed in earlier terms.
      for (const [term, m] of this.maxCommitByTerm) {
        if (term >= c.term || m.index <= c.log.snapIndex) continue;
        if (c.log.term(m.index) !== m.term) {
          throw new Violation(
            `leader completeness: ${n.id} leads term ${c.term} without entry ${m.index}/${m.term} committed in term ${term}`,
          );
        }
      }
    }
  }

  /** Every acknowledged write is the entry that was applied at its index. */
  checkAcked(): void {
    for (const a of this.acked) {
      const body = this.appliedAt.get(a.index);
      if (body === undefined || !body.startsWith(`${a.term}|`)) {
        throw new Violation(`lost write: acknowledged ${a.index}/${a.term}, applied ${body ?? "nothing"}`);
      }
    }
  }
}
