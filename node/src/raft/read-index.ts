import type { NodeId } from "./types.ts";

/** One read waiting for a heartbeat round to confirm the leader still leads. */
interface PendingRead {
  context: string;
  index: number;
  /** Who asked: this node, or a follower that forwarded the read. */
  from: NodeId;
  acks: Set<NodeId>;
  /** Leader tick when the read arrived: only heartbeats sent at or after it can confirm it. */
  tick: number;
}

/**
 * The ReadIndex queue (thesis §6.4): each read records the commit index when
 * it arrived and is released once a quorum has answered a heartbeat sent
 * after it. Releasing a read releases every earlier one too.
 */
export class ReadIndexQueue {
  private queue: PendingRead[] = [];

  /** Queues a read at commit index `index`, arriving at leader tick `tick`; returns false for a duplicate context. */
  add(context: string, index: number, from: NodeId, self: NodeId, tick: number): boolean {
    if (this.queue.some((p) => p.context === context)) return false;
    this.queue.push({ context, index, from, acks: new Set([self]), tick });
    return true;
  }

  /**
   * Records a heartbeat acknowledgement carrying `context` and echoing leader
   * tick `tick`; when `confirmed` says its acks form a quorum, returns that
   * read and all queued before it. An ack of a heartbeat sent before the read
   * arrived (a reused context) proves nothing and is ignored.
   */
  ack(context: string, from: NodeId, tick: number, confirmed: (acks: Set<NodeId>) => boolean): PendingRead[] {
    const k = this.queue.findIndex((p) => p.context === context);
    if (k < 0) return [];
    const p = this.queue[k] as PendingRead;
    if (tick < p.tick) return [];
    p.acks.add(from);
    if (!confirmed(p.acks)) return [];
    return this.queue.splice(0, k + 1);
  }

  /** The newest queued context, sent with heartbeats so late acks still count. */
  lastContext(): string | undefined {
    return this.queue[this.queue.length - 1]?.context;
  }

  /** Drops every queued read (leadership lost). */
  reset(): void {
    this.queue = [];
  }

  /** Number of reads waiting. */
  get size(): number {
    return this.queue.length;
  }
}
