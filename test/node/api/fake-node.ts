/**
 * A KvNode for API tests: a real MemoryKv fed real entries, with a switch for
 * "leader", "follower that knows the leader" and "no leader". Followers serve
 * stale reads locally and refuse everything else with NOT_LEADER, as the real
 * node does. Also the helpers to run an app on 127.0.0.1 and close it.
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { type ApiOptions, createApiApp } from "../../../node/src/api/app.ts";
import {
  type Consistency,
  type KvNode,
  type MemberStatus,
  NodeError,
  type NodeStatus,
} from "../../../node/src/api/kv-node.ts";
import type { Command, JsonValue } from "../../../node/src/kv/command.ts";
import { encodeCommand } from "../../../node/src/kv/command.ts";
import type { KeyValue } from "../../../node/src/kv/kv-store.ts";
import { MemoryKv } from "../../../node/src/kv/memory-kv.ts";
import type { KvPairs } from "../../../node/src/kv/set-pairs.ts";

/** Who this fake thinks leads. */
export type Role =
  | { kind: "leader" }
  | { kind: "follower"; leader: { id: string; httpUrl: string } }
  | { kind: "none" };

/** The fake node; `role`, `ready` and `hang` may be changed by tests at any time. */
export class FakeNode implements KvNode {
  readonly id: string;
  role: Role = { kind: "leader" };
  /** When set, writes wait this long before applying (to test forwarding timeouts). */
  hangMs = 0;
  /** Admin and data calls received, in order (e.g. "promote n2"). */
  readonly calls: string[] = [];
  readonly kv = new MemoryKv();
  readonly members = new Map<string, MemberStatus>();
  #index = 0;
  #httpUrl = "";

  /** A node called `id`. */
  constructor(id: string) {
    this.id = id;
    this.members.set(id, { id, role: "voter", incarnation: "inc-1", raftAddr: "127.0.0.1:12000", httpUrl: "" });
  }

  /** Tells the fake its own URL once the server listens. */
  setUrl(url: string): void {
    this.#httpUrl = url;
    const self = this.members.get(this.id);
    if (self) self.httpUrl = url;
  }

  #requireLeader(): void {
    if (this.role.kind === "leader") return;
    if (this.role.kind === "follower") throw new NodeError("NOT_LEADER", "not the leader", this.role.leader);
    throw new NodeError("NO_LEADER", "no leader is known");
  }

  async #apply(cmd: Command) {
    this.#requireLeader();
    if (this.hangMs > 0) await new Promise((r) => setTimeout(r, this.hangMs).unref());
    const index = ++this.#index;
    const [result] = this.kv.applySync([{ term: 1, index, type: "normal", data: encodeCommand(cmd) }]);
    if (result === undefined) throw new Error("no result");
    return { index, result };
  }

  async set(kv: KvPairs) {
    this.calls.push(`set ${kv.map(([k]) => k).join(",")}`);
    const { index } = await this.#apply({ op: "set", kv: Object.fromEntries(kv) });
    return { index };
  }

  async del(keys: string[]) {
    const { index, result } = await this.#apply({ op: "del", keys });
    return { index, deleted: result.op === "del" ? result.deleted : 0 };
  }

  async cas(key: string, expect: JsonValue | null, value: JsonValue | undefined, del: boolean) {
    const cmd: Command = del
      ? { op: "cas", key, expect, del: true }
      : { op: "cas", key, expect, value: value as JsonValue };
    const { index, result } = await this.#apply(cmd);
    if (result.op !== "cas") throw new Error("not a cas result");
    return { ok: result.ok, current: result.current, index };
  }

  async get(key: string, consistency: Consistency) {
    this.calls.push(`get ${key} ${consistency}`);
    if (consistency === "linearizable") this.#requireLeader();
    return (await this.kv.get(key)) ?? null;
  }

  async list(prefix: string, limit: number, after: string | undefined, consistency: Consistency): Promise<KeyValue[]> {
    this.calls.push(`list ${prefix} ${limit} ${after ?? "-"} ${consistency}`);
    if (consistency === "linearizable") this.#requireLeader();
    return this.kv.list({ prefix, limit, ...(after === undefined ? {} : { after }) });
  }

  status(): NodeStatus {
    const leader =
      this.role.kind === "leader"
        ? { id: this.id, raftAddr: "127.0.0.1:12000", httpUrl: this.#httpUrl }
        : this.role.kind === "follower"
          ? { ...this.role.leader, raftAddr: "127.0.0.1:12001" }
          : null;
    return {
      id: this.id,
      incarnation: "fake-incarnation",
      clusterId: "test",
      state: this.role.kind === "leader" ? "leader" : "follower",
      term: 1,
      leader,
      commitIndex: this.#index,
      appliedIndex: this.#index,
      lastLogIndex: this.#index,
      snapshotIndex: 0,
      members: [...this.members.values()],
      lastContactMs: this.role.kind === "none" ? null : 0,
      kvStore: "memory",
      version: "test",
    };
  }

  isLeader(): boolean {
    return this.role.kind === "leader";
  }

  leaderHttpUrl(): string | undefined {
    return this.role.kind === "leader"
      ? this.#httpUrl
      : this.role.kind === "follower"
        ? this.role.leader.httpUrl
        : undefined;
  }

  readiness(noLeaderOk: boolean) {
    if (this.role.kind === "none" && !noLeaderOk) return { ready: false, reason: "no leader known" };
    return { ready: true, reason: noLeaderOk ? "caught up" : "has a leader and applied the commit index" };
  }

  async addLearner(id: string, raftAddr: string, httpUrl: string, incarnation?: string) {
    this.#requireLeader();
    this.calls.push(`addLearner ${id} ${raftAddr} ${httpUrl} ${incarnation ?? "-"}`);
    if (this.members.has(id)) throw new NodeError("BAD_CONFIG_CHANGE", `${id} is already a member`);
    this.members.set(id, { id, role: "learner", incarnation: incarnation ?? "new", raftAddr, httpUrl });
  }

  async promote(id: string) {
    this.#requireLeader();
    this.calls.push(`promote ${id}`);
    const m = this.members.get(id);
    if (!m) throw new NodeError("UNKNOWN_MEMBER", `no member ${id}`);
    m.role = "voter";
  }

  async remove(id: string) {
    this.#requireLeader();
    this.calls.push(`remove ${id}`);
    if (!this.members.delete(id)) throw new NodeError("UNKNOWN_MEMBER", `no member ${id}`);
  }

  async transferLeader(id?: string) {
    this.#requireLeader();
    this.calls.push(`transferLeader ${id ?? "-"}`);
    if (id !== undefined && !this.members.has(id)) throw new NodeError("UNKNOWN_MEMBER", `no member ${id}`);
    return { leader: id ?? "n2" };
  }
}

/** A running app: its node, the express app, base URL, server, and a close function. */
export interface Running {
  node: FakeNode;
  app: Express;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Runs createApiApp over a FakeNode on 127.0.0.1 (port 0). */
export async function startApp(id: string, opts: Partial<ApiOptions> = {}): Promise<Running> {
  const node = new FakeNode(id);
  const app = createApiApp(node, { maxBodyBytes: 64 * 1024, logger: quietLogger, ...opts });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  node.setUrl(url);
  return {
    node,
    app,
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Collects log lines instead of printing them. */
export const logged: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];

/** A logger that records into `logged`. */
export const quietLogger = {
  warn: (msg: string, fields?: Record<string, unknown>) =>
    logged.push({ level: "warn", msg, ...(fields ? { fields } : {}) }),
  error: (msg: string, fields?: Record<string, unknown>) =>
    logged.push({ level: "error", msg, ...(fields ? { fields } : {}) }),
};
