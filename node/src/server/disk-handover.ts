/**
 * A leader whose disk is low refuses every client write, so it should not
 * stay leader while a voter with room could take over: every `everyMs` while
 * low and leading, it asks the caught-up voters (most caught-up first) for
 * /raft/v1/info and transfers leadership to the first that says its disk is
 * fine. When every voter is low (say, identical volumes filled by the same
 * data) it stays, and writes keep failing with STORAGE_FULL until space is
 * freed somewhere.
 */

import type { Logger } from "../log.ts";
import type { DiskGuard } from "../storage/disk-guard.ts";
import type { RaftTransport } from "../transport/raft-transport.ts";
import type { RaftNode } from "./raft-node.ts";

/** What the hand-over works with. */
export interface LowDiskHandoverDeps {
  node: RaftNode;
  transport: RaftTransport;
  disk: DiskGuard;
  logger: Logger;
  /** Time between attempts (a couple of election timeouts). */
  everyMs: number;
}

/** Hands leadership away from a leader with a low disk; start() / stop(). */
export class LowDiskHandover {
  readonly #d: LowDiskHandoverDeps;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  /** Idle until start(). */
  constructor(d: LowDiskHandoverDeps) {
    this.#d = d;
  }

  /** Checks every `everyMs`. */
  start(): void {
    this.#timer ??= setInterval(() => void this.attempt(), this.#d.everyMs);
    this.#timer.unref();
  }

  /** Stops checking. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One attempt; resolves with the new leader's id when a transfer was started. */
  async attempt(): Promise<string | undefined> {
    const { node, transport, disk, logger } = this.#d;
    if (this.#busy || !disk.low || node.core.state !== "leader" || !node.running) return undefined;
    this.#busy = true;
    try {
      const core = node.core;
      const candidates = Object.keys(core.config.voters)
        .filter((id) => id !== node.id && core.prs.get(id)?.seenInc === core.config.voters[id])
        .sort((a, b) => (core.prs.get(b)?.match ?? 0) - (core.prs.get(a)?.match ?? 0));
      for (const id of candidates) {
        const addr = node.book.get(id)?.raftAddr;
        if (!addr) continue;
        const info = await transport.info(addr, 1000).catch(() => undefined);
        if (info?.body?.diskLow !== false) continue;
        if (node.core.state !== "leader" || !disk.low) return undefined;
        const out = await node.withCore((c) => c.transferLeader(id));
        logger.warn("disk low on the leader: handing leadership to a voter with room", {
          to: id,
          freeBytes: disk.free,
          minFreeBytes: disk.minFreeBytes,
          started: out.ok,
          ...(out.ok ? {} : { refused: out.message }),
        });
        return out.ok ? id : undefined;
      }
      return undefined;
    } catch (e) {
      logger.warn("low-disk hand-over failed", { err: e });
      return undefined;
    } finally {
      this.#busy = false;
    }
  }
}
