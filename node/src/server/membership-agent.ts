/**
 * How nodes become members without an operator:
 * - a node that started with an empty store asks the leader (POST /raft/v1/join
 *   on any peer, following NOT_LEADER answers) until its own configuration
 *   lists it under its incarnation. The leader records its addresses in the
 *   book, then adds it as a learner (a wiped member is thereby re-added under
 *   its new incarnation, which demotes the stale voter);
 * - the leader promotes caught-up learners that asked to vote, one change at a time;
 * - every member makes sure the replicated book has its current addresses
 *   (an `announce` to the leader; the leader proposes its own record).
 * With MEMBERSHIP=operator the operator owns joins and promotions (POST
 * /admin/members, /admin/members/<id>/promote): a blank node waits to be
 * added and the leader promotes nobody; announcing addresses stays.
 * A node never removes itself, on shutdown or otherwise.
 */

import { NodeError } from "../api/kv-node.ts";
import { type ErrorCode, httpStatus } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MemberAddress } from "../membership-book.ts";
import type { JoinRequest } from "../transport/protocol.ts";
import type { RaftTransport } from "../transport/raft-transport.ts";
import type { RaftNode } from "./raft-node.ts";

/** Who this node is. */
export interface SelfInfo {
  id: string;
  raftAddr: string;
  httpUrl: string;
}

/** What the agent works with. */
export interface AgentDeps {
  node: RaftNode;
  transport: RaftTransport;
  logger: Logger;
  self: SelfInfo;
  /** Raft addresses to try when no leader is known (PEERS or discovered pods, without this node). */
  joinTargets: () => string[];
  /** The store was empty at start: join until a member (never with `operatorManaged`). */
  joining: boolean;
  /** MEMBERSHIP=operator: never ask to join, never promote learners. */
  operatorManaged?: boolean;
  /** Learners within this many entries of the commit index count as caught up. */
  promoteSlack?: number;
}

/** A join answer. */
export interface JoinReply {
  status: number;
  body: unknown;
}

const RETRYABLE = new Set<ErrorCode>(["NOT_READY", "CONFIG_CHANGE_PENDING", "TRANSFERRING", "UNAVAILABLE"]);

function sameAddr(a: MemberAddress | undefined, b: MemberAddress): boolean {
  return a !== undefined && a.raftAddr === b.raftAddr && a.httpUrl === b.httpUrl && a.voter === b.voter;
}

/** Join, promote and announce: the membership work of one node. */
export class MembershipAgent {
  readonly #d: AgentDeps;
  readonly #mine: MemberAddress;
  #timer: NodeJS.Timeout | undefined;
  #followerBusy = false;
  #leaderBusy = false;
  #lastLeaderWork = 0;
  #everMember = false;
  #joinSerial: Promise<unknown> = Promise.resolve();
  #lastJoinLog = 0;
  readonly #staleLogged = new Set<string>();

  /** An agent that does nothing until `start()`. */
  constructor(d: AgentDeps) {
    this.#d = d;
    this.#mine = { raftAddr: d.self.raftAddr, httpUrl: d.self.httpUrl, voter: true };
  }

  /** Starts the periodic work. */
  start(): void {
    this.#d.node.onCycle = () => this.#leaderWork();
    const loop = () => {
      void this.#followerWork().finally(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(loop, this.#isMember() ? 2000 : 500);
      });
    };
    this.#timer = setTimeout(loop, 200);
  }

  /** Stops the periodic work. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#d.node.onCycle = () => {};
  }

  #isMember(): boolean {
    const c = this.#d.node.core;
    const bound = c.config.voters[this.#d.self.id] ?? c.config.learners[this.#d.self.id];
    return bound === c.inc;
  }

  /** Follower side: join while not a member; announce addresses the book lacks. */
  async #followerWork(): Promise<void> {
    if (this.#followerBusy || !this.#d.node.running) return;
    const { node, self } = this.#d;
    const c = node.core;
    const member = this.#isMember();
    if (member) this.#everMember = true;
    let mode: JoinRequest["mode"] | undefined;
    if (!member && this.#d.joining && !this.#d.operatorManaged && !this.#everMember) mode = "join";
    else if (member && c.state !== "leader" && c.lead !== "" && !sameAddr(node.book.replicated(self.id), this.#mine))
      mode = "announce";
    if (!mode) return;
    this.#followerBusy = true;
    try {
      const req: JoinRequest = { ...self, incarnation: c.inc, voter: true, mode };
      const leaderAddr = c.lead ? node.book.get(c.lead)?.raftAddr : undefined;
      const targets = [...new Set([...(leaderAddr ? [leaderAddr] : []), ...this.#d.joinTargets()])];
      const failures: string[] = [];
      for (const addr of targets) {
        const r = await this.#ask(addr, req);
        if (r.ok) {
          this.#d.logger.info(mode === "join" ? "join accepted by the leader" : "addresses announced", { via: r.via });
          return;
        }
        failures.push(`${addr}: ${r.why}`);
      }
      if (Date.now() - this.#lastJoinLog > 10_000) {
        this.#lastJoinLog = Date.now();
        this.#d.logger.info(mode === "join" ? "waiting to join the cluster" : "cannot announce addresses yet", {
          tried: failures,
        });
      }
    } finally {
      this.#followerBusy = false;
    }
  }

  /** Sends one request, following one NOT_LEADER redirect. */
  async #ask(addr: string, req: JoinRequest): Promise<{ ok: true; via: string } | { ok: false; why: string }> {
    let target = addr;
    for (let hop = 0; hop < 2; hop++) {
      let r: { status: number; body: unknown };
      try {
        r = await this.#d.transport.join(target, req);
      } catch (e) {
        return { ok: false, why: (e as Error).message };
      }
      if (r.status === 200) return { ok: true, via: target };
      const body = r.body as { code?: string; error?: string; leader?: { raftAddr?: string } | null } | undefined;
      const next = body?.leader?.raftAddr;
      if (r.status === 421 && next && next !== target) {
        target = next;
        continue;
      }
      return { ok: false, why: `${r.status} ${body?.code ?? ""} ${body?.error ?? ""}`.trim() };
    }
    return { ok: false, why: "redirected too often" };
  }

  /** Leader side, once per loop cycle (throttled): own addresses, promotions, stale members. */
  #leaderWork(): void {
    const { node } = this.#d;
    const c = node.core;
    if (c.state !== "leader" || this.#leaderBusy || !c.committedInTerm()) return;
    const now = Date.now();
    if (now - this.#lastLeaderWork < 100) return;
    this.#lastLeaderWork = now;
    for (const s of c.staleMembers()) {
      const key = `${s.id}/${s.seen}`;
      if (this.#staleLogged.has(key)) continue;
      this.#staleLogged.add(key);
      this.#d.logger.warn("member answers under a new incarnation (wiped disk?); it must rejoin", s);
    }
    let work: Promise<unknown> | undefined;
    let what = "";
    if (!sameAddr(node.book.replicated(this.#d.self.id), this.#mine)) {
      work = node.proposeMember(this.#d.self.id, this.#mine);
      what = "record own addresses";
    } else if (!this.#d.operatorManaged) {
      const target = this.#promotable();
      if (target) {
        work = node.confChange({ op: "promote", id: target });
        what = `promote ${target}`;
        this.#d.logger.info("promoting caught-up learner", { id: target });
      }
    }
    if (!work) return;
    this.#leaderBusy = true;
    work.then(
      () => {
        this.#leaderBusy = false;
      },
      (e) => {
        this.#leaderBusy = false;
        this.#d.logger.debug("leader membership work failed", { what, err: e });
      },
    );
  }

  /** A learner that asked to vote and has caught up, or undefined. */
  #promotable(): string | undefined {
    const c = this.#d.node.core;
    if (c.configIndex > c.log.committed) return undefined;
    const slack = this.#d.promoteSlack ?? 64;
    for (const [id, inc] of Object.entries(c.config.learners).sort()) {
      if (this.#d.node.book.replicated(id)?.voter !== true) continue;
      const pr = c.prs.get(id);
      if (!pr || pr.seenInc !== inc || pr.match + slack < c.log.committed) continue;
      return id;
    }
    return undefined;
  }

  /** Leader side of POST /raft/v1/join; one request at a time. */
  handleJoin(req: JoinRequest): Promise<JoinReply> {
    const run = this.#joinSerial.then(() => this.#join(req));
    this.#joinSerial = run.catch(() => {});
    return run;
  }

  async #join(req: JoinRequest): Promise<JoinReply> {
    const { node, logger } = this.#d;
    const redirect = this.#redirect();
    if (redirect) return redirect;
    const deadline = Date.now() + 10_000;
    const addr: MemberAddress = { raftAddr: req.raftAddr, httpUrl: req.httpUrl, voter: req.voter };
    try {
      if (!sameAddr(node.book.replicated(req.id), addr)) {
        await retry(deadline, () => node.proposeMember(req.id, addr));
      }
      if (req.mode === "announce") return { status: 200, body: { ok: true } };
      const c = node.core;
      const bound = c.config.voters[req.id] ?? c.config.learners[req.id];
      if (bound === req.incarnation) {
        return { status: 200, body: { ok: true, role: c.config.voters[req.id] ? "voter" : "learner" } };
      }
      await retry(deadline, () => node.confChange({ op: "addLearner", id: req.id, incarnation: req.incarnation }));
      logger.info(bound ? "re-added member under its new incarnation" : "added learner", {
        id: req.id,
        incarnation: req.incarnation,
        previous: bound,
        raftAddr: req.raftAddr,
      });
      return { status: 200, body: { ok: true, role: "learner" } };
    } catch (e) {
      const code: ErrorCode = e instanceof NodeError ? e.code : "INTERNAL";
      return this.#redirect() ?? { status: httpStatus(code), body: { code, error: (e as Error).message } };
    }
  }

  /** A 421/503 answer naming the leader when this node does not lead. */
  #redirect(): JoinReply | undefined {
    const c = this.#d.node.core;
    if (c.state === "leader") return undefined;
    const lead = c.lead;
    const leader = lead ? { id: lead, raftAddr: this.#d.node.book.get(lead)?.raftAddr } : null;
    return {
      status: lead ? 421 : 503,
      body: { code: lead ? "NOT_LEADER" : "NO_LEADER", error: lead ? `the leader is ${lead}` : "no leader", leader },
    };
  }
}

/** Runs `f` until it succeeds, a non-retryable error occurs, or `deadline` passes. */
async function retry<T>(deadline: number, f: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof NodeError) || !RETRYABLE.has(e.code) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
