/**
 * What the client HTTP server talks to for the life of the process. The Raft
 * node behind it can be replaced: while it starts, and while its storage is
 * suspended for lack of space (main.ts closes the store, waits for room,
 * reopens it and starts a new node), the slot holds a stand-in that refuses
 * every request with one code and says why.
 */

import type { Consistency, KvNode, KvWrites, NodeStatus } from "../api/kv-node.ts";
import { NodeError } from "../api/kv-node.ts";
import type { ErrorCode } from "../errors.ts";
import type { JsonValue } from "../kv/command.ts";
import type { KeyValue } from "../kv/kv-store.ts";
import type { KvPairs } from "../kv/set-pairs.ts";

/** A node that serves nothing: every call is refused with `code` (e.g. NOT_READY, STORAGE_FULL). */
export class StandInNode implements KvNode {
  readonly id: string;
  readonly code: ErrorCode;
  readonly reason: string;

  /** Refuses everything with `code` and `reason`. */
  constructor(id: string, code: ErrorCode, reason: string) {
    this.id = id;
    this.code = code;
    this.reason = reason;
  }

  #refuse(): never {
    throw this.#error();
  }

  #error(): NodeError {
    return new NodeError(this.code, this.reason);
  }

  /** Refused. */
  set(_kv: KvPairs): Promise<{ index: number }> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  del(_keys: string[]): Promise<{ index: number; deleted: number }> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  cas(): Promise<{ ok: boolean; current: JsonValue | null; index: number }> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  get(_key: string, _c: Consistency): Promise<JsonValue | null> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  list(): Promise<KeyValue[]> {
    return Promise.reject(this.#error());
  }

  /** Refused: /status answers with the code. */
  status(): NodeStatus {
    this.#refuse();
  }

  /** Never. */
  isLeader(): boolean {
    return false;
  }

  /** None known. */
  leaderHttpUrl(): string | undefined {
    return undefined;
  }

  /** Never ready. */
  readiness(): { ready: boolean; reason: string } {
    return { ready: false, reason: this.reason };
  }

  /** Refused. */
  addLearner(): Promise<void> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  promote(): Promise<void> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  remove(): Promise<void> {
    return Promise.reject(this.#error());
  }

  /** Refused. */
  transferLeader(): Promise<{ leader: string }> {
    return Promise.reject(this.#error());
  }
}

/** A KvNode that delegates every call to the node currently in the slot. */
export class NodeSlot implements KvNode {
  readonly id: string;
  #current: KvNode;

  /** Starts with `initial` (usually a StandInNode saying the node is starting). */
  constructor(initial: KvNode) {
    this.id = initial.id;
    this.#current = initial;
  }

  /** The node requests go to now. */
  get current(): KvNode {
    return this.#current;
  }

  /** Sends later requests to `node` (requests under way finish on the old one). */
  replace(node: KvNode): void {
    this.#current = node;
  }

  /** Delegated. */
  get remote(): KvWrites | undefined {
    return this.#current.remote;
  }

  /** Delegated. */
  set(kv: KvPairs): Promise<{ index: number }> {
    return this.#current.set(kv);
  }

  /** Delegated. */
  del(keys: string[]): Promise<{ index: number; deleted: number }> {
    return this.#current.del(keys);
  }

  /** Delegated. */
  cas(
    key: string,
    expect: JsonValue | null,
    value: JsonValue | undefined,
    del: boolean,
  ): Promise<{ ok: boolean; current: JsonValue | null; index: number }> {
    return this.#current.cas(key, expect, value, del);
  }

  /** Delegated. */
  get(key: string, consistency: Consistency): Promise<JsonValue | null> {
    return this.#current.get(key, consistency);
  }

  /** Delegated. */
  list(prefix: string, limit: number, after: string | undefined, consistency: Consistency): Promise<KeyValue[]> {
    return this.#current.list(prefix, limit, after, consistency);
  }

  /** Delegated. */
  status(): NodeStatus {
    return this.#current.status();
  }

  /** Delegated. */
  isLeader(): boolean {
    return this.#current.isLeader();
  }

  /** Delegated. */
  leaderHttpUrl(): string | undefined {
    return this.#current.leaderHttpUrl();
  }

  /** Delegated. */
  readiness(noLeaderOk: boolean): { ready: boolean; reason: string } {
    return this.#current.readiness(noLeaderOk);
  }

  /** Delegated. */
  addLearner(id: string, raftAddr: string, httpUrl: string, incarnation?: string): Promise<void> {
    return this.#current.addLearner(id, raftAddr, httpUrl, incarnation);
  }

  /** Delegated. */
  promote(id: string): Promise<void> {
    return this.#current.promote(id);
  }

  /** Delegated. */
  remove(id: string): Promise<void> {
    return this.#current.remove(id);
  }

  /** Delegated. */
  transferLeader(id?: string): Promise<{ leader: string }> {
    return this.#current.transferLeader(id);
  }
}
