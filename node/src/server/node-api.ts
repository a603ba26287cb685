/**
 * The KvNode the client API calls: KV commands become Raft proposals,
 * linearizable reads wait for a ReadIndex round, admin calls become
 * membership changes. Writes on a follower throw NOT_LEADER naming the
 * leader (the API layer forwards); reads are served on any node.
 */

import {
  type Consistency,
  type KvNode,
  type KvWrites,
  type MemberStatus,
  NodeError,
  type NodeStatus,
} from "../api/kv-node.ts";
import { ERROR_TABLE, type ErrorCode } from "../errors.ts";
import { isSetCommand } from "../kv/apply.ts";
import { type Command, encodeCommand, type JsonValue } from "../kv/command.ts";
import type { ApplyResult, KeyValue } from "../kv/kv-store.ts";
import { encodeSetPairs, type KvPairs } from "../kv/set-pairs.ts";
import type { DiskGuard } from "../storage/disk-guard.ts";
import type { ProposeAnswer } from "../transport/protocol.ts";
import { ForwardError, type RaftTransport } from "../transport/raft-transport.ts";
import type { RaftNode } from "./raft-node.ts";
import { leaderRef, notLeader } from "./refusals.ts";

/** The apply result of every valid set. */
const SET_APPLIED: ApplyResult = Object.freeze({ op: "set", ok: true }) as ApplyResult;

/** TEST-ONLY: a planted bug for test/faults (see get()); never set in production. */
const TEST_BUG_STALE_FOLLOWER_READS = process.env.RAFTKV_TEST_BUG === "staleFollowerReads";

/** Static facts /status reports. */
export interface NodeFacts {
  clusterId: string;
  kvStore: string;
  version: string;
  /** How long transferLeader waits for the new leader. */
  transferTimeoutMs: number;
  /** How long a write forwarded to the leader may take (default 15 s). */
  forwardTimeoutMs?: number;
  /** STATE_DIR's free space; while low, this node refuses client writes when it leads. */
  disk?: DiskGuard;
}

/** KvNode on top of a RaftNode. */
export class NodeApi implements KvNode {
  readonly id: string;
  readonly #node: RaftNode;
  readonly #transport: RaftTransport;
  readonly #facts: NodeFacts;
  /** Set on shutdown: every new request is refused. */
  closed = false;

  /** Wraps a running node. */
  constructor(node: RaftNode, transport: RaftTransport, facts: NodeFacts) {
    this.id = node.id;
    this.#node = node;
    this.#transport = transport;
    this.#facts = facts;
  }

  #open(): void {
    if (this.closed) throw new NodeError("UNAVAILABLE", "node is shutting down");
  }

  /** Proposes a command's text (`isSet`: its answer does not depend on the state), here or on the leader. */
  async #write(data: string, isSet: boolean, remote: boolean): Promise<{ index: number; result: ApplyResult }> {
    this.#open();
    // During an election, wait (bounded) for its outcome rather than fail at once.
    if (this.#node.core.lead === "") await this.#node.waitForLeader(this.#facts.transferTimeoutMs);
    // Checked where the entry would be proposed: a follower forwards, and the leader checks its own disk.
    const disk = this.#facts.disk;
    if (disk?.low && this.isLeader()) throw storageFull(this.id, disk);
    const r =
      remote && !this.isLeader()
        ? await this.#forward(data)
        : await this.#node.propose(data, isSet ? SET_APPLIED : undefined);
    if (r.result.op === "invalid") throw new NodeError("BAD_BODY", r.result.error);
    return r;
  }

  /** Proposes `data` on the leader through the Raft port (batched with other forwarded writes). */
  async #forward(data: string): Promise<{ index: number; result: ApplyResult }> {
    const n = this.#node;
    const lead = n.core.lead;
    const url = lead ? (n.book.get(lead)?.httpUrl ?? "") : "";
    if (!lead || url === "") {
      throw new NodeError("NO_LEADER", "this node is not the leader and knows no leader yet", { id: "", httpUrl: "" });
    }
    const leader = { id: lead, httpUrl: url };
    let a: ProposeAnswer;
    try {
      a = await this.#transport.propose(lead, data, this.#facts.forwardTimeoutMs ?? 15_000);
    } catch (e) {
      if (!(e instanceof ForwardError)) throw e;
      throw e.sent
        ? new NodeError(
            "UNAVAILABLE",
            `the leader ${lead} (${url}) did not answer (${e.message}); the write may or may not have been applied`,
            leader,
          )
        : new NodeError("NO_LEADER", `cannot reach the leader ${lead} (${url}): ${e.message}`, leader);
    }
    if ("code" in a) {
      // The leader it was sent to leads no more: say so (a retry finds the new one); as a forwarded HTTP request would.
      if (a.code === "NOT_LEADER" || a.code === "NO_LEADER") {
        throw new NodeError("NO_LEADER", "leadership moved while the request was forwarded; retry", leader);
      }
      throw new NodeError(a.code in ERROR_TABLE ? (a.code as ErrorCode) : "INTERNAL", a.error);
    }
    return a as { index: number; result: ApplyResult };
  }

  /**
   * The leader's side of forwarded writes: proposes each (as a local write would be, disk check
   * included) and answers each once applied or refused, in order.
   */
  proposeForwarded(datas: string[]): Promise<ProposeAnswer[]> {
    return Promise.all(
      datas.map(async (data): Promise<ProposeAnswer> => {
        try {
          this.#open();
          if (!this.isLeader()) throw notLeader(this.#node.book, this.#node.core.lead);
          const disk = this.#facts.disk;
          if (disk?.low) throw storageFull(this.id, disk);
          // A set's answer does not depend on the state: given at commit (RaftNode.propose), once it parses.
          return await this.#node.propose(data, isSetCommand(data) ? SET_APPLIED : undefined);
        } catch (e) {
          if (e instanceof NodeError) return { code: e.code, error: e.message };
          return { code: "INTERNAL", error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
  }

  #set = async (kv: KvPairs, remote: boolean): Promise<{ index: number }> => {
    const r = await this.#write(encodeSetPairs(kv), true, remote);
    return { index: r.index };
  };

  #del = async (keys: string[], remote: boolean): Promise<{ index: number; deleted: number }> => {
    const r = await this.#write(encodeCommand({ op: "del", keys }), false, remote);
    return { index: r.index, deleted: r.result.op === "del" ? r.result.deleted : 0 };
  };

  #cas = async (
    key: string,
    expect: JsonValue | null,
    value: JsonValue | undefined,
    del: boolean,
    remote: boolean,
  ): Promise<{ ok: boolean; current: JsonValue | null; index: number }> => {
    const cmd: Command = del
      ? { op: "cas", key, expect, del: true }
      : { op: "cas", key, expect, value: value as JsonValue };
    const r = await this.#write(encodeCommand(cmd), false, remote);
    if (r.result.op !== "cas") throw new NodeError("INTERNAL", `cas applied as ${r.result.op}`);
    return { ok: r.result.ok, current: r.result.current, index: r.index };
  };

  /** Writes run on the leader through the Raft port when this node follows (see KvNode.remote). */
  readonly remote: KvWrites = {
    leader: () => {
      const n = this.#node;
      if (this.closed || !n.running || n.core.state === "leader" || n.core.lead === "") return undefined;
      return leaderRef(n.book, n.core.lead);
    },
    set: (kv) => this.#set(kv, true),
    del: (keys) => this.#del(keys, true),
    cas: (key, expect, value, del) => this.#cas(key, expect, value, del, true),
  };

  /** Sets keys in one entry. */
  set(kv: KvPairs): Promise<{ index: number }> {
    return this.#set(kv, false);
  }

  /** Deletes keys in one entry. */
  del(keys: string[]): Promise<{ index: number; deleted: number }> {
    return this.#del(keys, false);
  }

  /** Compare-and-set. */
  cas(
    key: string,
    expect: JsonValue | null,
    value: JsonValue | undefined,
    del: boolean,
  ): Promise<{ ok: boolean; current: JsonValue | null; index: number }> {
    return this.#cas(key, expect, value, del, false);
  }

  /** One key's value, null when absent. */
  async get(key: string, consistency: Consistency): Promise<JsonValue | null> {
    this.#open();
    // TEST-ONLY planted bug (RAFTKV_TEST_BUG=staleFollowerReads, set only by test/faults):
    // a follower serves "linearizable" reads from its local state without a ReadIndex round.
    const plantedStale = TEST_BUG_STALE_FOLLOWER_READS && !this.isLeader();
    if (consistency === "linearizable" && !plantedStale) await this.#node.readBarrier();
    return (await this.#local(() => this.#node.kv.get(key))) ?? null;
  }

  /** A read of local state; if the node stopped meanwhile (its store closed), UNAVAILABLE rather than a 500. */
  async #local<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      if (e instanceof NodeError || (this.#node.running && !this.closed)) throw e;
      throw new NodeError("UNAVAILABLE", "the node stopped during the read; retry");
    }
  }

  /** Keys by prefix. */
  async list(prefix: string, limit: number, after: string | undefined, consistency: Consistency): Promise<KeyValue[]> {
    this.#open();
    if (consistency === "linearizable") await this.#node.readBarrier();
    const opts: { prefix: string; limit: number; after?: string } = { prefix, limit };
    if (after !== undefined) opts.after = after;
    return this.#local(() => this.#node.kv.list(opts));
  }

  /** The /status document. */
  status(): NodeStatus {
    const n = this.#node;
    const st = n.core.status();
    const members: MemberStatus[] = [];
    const add = (id: string, role: "voter" | "learner", incarnation: string) => {
      const a = n.book.get(id);
      const m: MemberStatus = { id, role, incarnation, raftAddr: a?.raftAddr ?? "", httpUrl: a?.httpUrl ?? "" };
      const pr = st.progress[id];
      if (st.state === "leader") m.match = id === st.id ? st.lastIndex : (pr?.match ?? 0);
      members.push(m);
    };
    for (const [id, inc] of Object.entries(st.config.voters)) add(id, "voter", inc);
    for (const [id, inc] of Object.entries(st.config.learners)) add(id, "learner", inc);
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const lead = st.lead ? n.book.get(st.lead) : undefined;
    return {
      id: st.id,
      incarnation: n.core.inc,
      clusterId: this.#facts.clusterId,
      state: st.state,
      term: st.term,
      leader: st.lead ? { id: st.lead, raftAddr: lead?.raftAddr ?? "", httpUrl: lead?.httpUrl ?? "" } : null,
      commitIndex: st.commit,
      appliedIndex: n.applied,
      lastLogIndex: st.lastIndex,
      snapshotIndex: st.snapshotIndex,
      members,
      lastContactMs: n.lastContactMs(),
      kvStore: this.#facts.kvStore,
      version: this.#facts.version,
    };
  }

  /** True when this node leads. */
  isLeader(): boolean {
    return this.#node.core.state === "leader";
  }

  /** The leader's client URL, if known. */
  leaderHttpUrl(): string | undefined {
    const lead = this.#node.core.lead;
    const url = lead ? this.#node.book.get(lead)?.httpUrl : undefined;
    return url === "" ? undefined : url;
  }

  /** /readyz. */
  readiness(noLeaderOk: boolean): { ready: boolean; reason: string } {
    const n = this.#node;
    if (this.closed || !n.running) return { ready: false, reason: "shutting down" };
    const c = n.core;
    if (!noLeaderOk && !c.lead) return { ready: false, reason: "no leader known" };
    if (n.applied < c.log.committed) {
      return { ready: false, reason: `applied ${n.applied} of ${c.log.committed} committed entries` };
    }
    return { ready: true, reason: c.lead ? `leader is ${c.lead}` : "caught up (no leader known)" };
  }

  /** Admin: adds a learner; asks the node for its incarnation when not given. */
  async addLearner(id: string, raftAddr: string, httpUrl: string, incarnation?: string): Promise<void> {
    this.#open();
    if (!this.isLeader()) throw notLeader(this.#node.book, this.#node.core.lead);
    let inc = incarnation;
    if (inc === undefined) {
      const info = await this.#transport.info(raftAddr).catch((e: Error) => {
        throw new NodeError("UNAVAILABLE", `cannot reach ${id} at ${raftAddr} to learn its incarnation: ${e.message}`);
      });
      if (!info.body) throw new NodeError("UNAVAILABLE", `${raftAddr} answered /raft/v1/info with ${info.status}`);
      if (info.body.id !== id)
        throw new NodeError("BAD_CONFIG_CHANGE", `${raftAddr} is node ${info.body.id}, not ${id}`);
      inc = info.body.incarnation;
    }
    const cur = this.#node.book.replicated(id);
    if (cur?.raftAddr !== raftAddr || cur.httpUrl !== httpUrl) {
      await this.#node.proposeMember(id, { raftAddr, httpUrl, voter: cur?.voter ?? false });
    }
    await this.#node.confChange({ op: "addLearner", id, incarnation: inc });
  }

  /** Admin: promotes a learner. */
  async promote(id: string): Promise<void> {
    this.#open();
    await this.#node.confChange({ op: "promote", id });
  }

  /** Admin: removes a member. */
  async remove(id: string): Promise<void> {
    this.#open();
    await this.#node.confChange({ op: "remove", id });
  }

  /** Admin: hands leadership to `id` or to the most caught-up voter. */
  async transferLeader(id?: string): Promise<{ leader: string }> {
    this.#open();
    const n = this.#node;
    if (!this.isLeader()) throw notLeader(n.book, n.core.lead);
    const target = id ?? bestTransferee(n);
    if (!target) throw new NodeError("BAD_CONFIG_CHANGE", "no other voter to hand leadership to");
    const out = await n.withCore((c) => c.transferLeader(target));
    if (!out.ok) throw new NodeError(out.code, out.message);
    if (target === n.id) return { leader: n.id };
    const deadline = Date.now() + this.#facts.transferTimeoutMs;
    while (Date.now() < deadline) {
      if (n.core.lead === target) return { leader: target };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new NodeError("UNAVAILABLE", `${target} did not take over within ${this.#facts.transferTimeoutMs} ms`);
  }
}

/** The refusal of a client write on a leader whose disk is low: definite, nothing was proposed. */
export function storageFull(id: string, disk: DiskGuard): NodeError {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  return new NodeError(
    "STORAGE_FULL",
    `the leader ${id} has ${mib(disk.free ?? 0)} free in STATE_DIR, below MIN_FREE_BYTES (${mib(disk.minFreeBytes)}); ` +
      "writes are refused until space is freed (reads still work)",
  );
}

/** The voter (other than this node) with the highest match index, or undefined. */
export function bestTransferee(n: RaftNode): string | undefined {
  let best: string | undefined;
  let bestMatch = -1;
  for (const id of Object.keys(n.core.config.voters).sort()) {
    if (id === n.id) continue;
    const pr = n.core.prs.get(id);
    if (!pr || pr.seenInc !== n.core.config.voters[id]) continue;
    if (pr.match > bestMatch) {
      best = id;
      bestMatch = pr.match;
    }
  }
  return best;
}
