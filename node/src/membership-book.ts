/**
 * The address book: where each member listens (Raft address, client URL) and
 * whether it asked to be a voter. The Raft configuration only binds ids to
 * incarnations, so addresses travel through the log as `member` entries
 * (ordinary `normal` entries the KV store ignores as invalid commands) and
 * through snapshots (see snapshot-envelope.ts). Addresses stay as given
 * (usually DNS names); they are resolved per connection, never stored as IPs.
 */

import type { Entry, NodeId } from "./raft/types.ts";

/** Where one member can be reached. */
export interface MemberAddress {
  /** `host:port` of its Raft endpoint. */
  raftAddr: string;
  /** Base URL of its client API, e.g. `http://node1:11000`. */
  httpUrl: string;
  /** The member wants to vote: the leader promotes it once it has caught up. */
  voter: boolean;
}

/** The data of a `member` entry. */
export interface MemberRecord extends MemberAddress {
  op: "member";
  id: NodeId;
}

/** The `data` of a normal entry that records a member's addresses. */
export function encodeMemberRecord(id: NodeId, a: MemberAddress): string {
  const r: MemberRecord = { op: "member", id, raftAddr: a.raftAddr, httpUrl: a.httpUrl, voter: a.voter };
  return JSON.stringify(r);
}

/** The member record an entry carries, or undefined for any other entry. */
export function decodeMemberRecord(e: Entry): MemberRecord | undefined {
  // Cheap pre-check: KV commands never contain this text at the start.
  if (e.type !== "normal" || !e.data.startsWith('{"op":"member"')) return undefined;
  try {
    const r = JSON.parse(e.data) as Partial<MemberRecord>;
    if (r.op !== "member" || typeof r.id !== "string" || typeof r.raftAddr !== "string") return undefined;
    if (typeof r.httpUrl !== "string") return undefined;
    return { op: "member", id: r.id, raftAddr: r.raftAddr, httpUrl: r.httpUrl, voter: r.voter !== false };
  } catch {
    return undefined;
  }
}

/**
 * Addresses from three sources, most trusted first: the replicated book
 * (member entries), static seeds (PEERS, DNS names derived from the pod
 * name), and addresses peers announced in their Raft request headers.
 */
export class MembershipBook {
  /** Replicated through the log; identical on every node at the same applied index. */
  readonly #replicated = new Map<NodeId, MemberAddress>();
  readonly #seeds = new Map<NodeId, MemberAddress>();
  readonly #learned = new Map<NodeId, MemberAddress>();
  /** Fallback for ids nobody told us about (DNS discovery: `<id>.<service>:<port>`). */
  readonly #derive: ((id: NodeId) => MemberAddress | undefined) | undefined;

  /** An empty book; `derive` guesses addresses of unknown ids. */
  constructor(derive?: (id: NodeId) => MemberAddress | undefined) {
    this.#derive = derive;
  }

  /** Adds a locally configured address (PEERS); never replicated. */
  seed(id: NodeId, a: MemberAddress): void {
    this.#seeds.set(id, a);
  }

  /** Remembers the address a peer announced in a request header. */
  learn(id: NodeId, raftAddr: string, httpUrl: string): void {
    const cur = this.#learned.get(id);
    if (cur?.raftAddr === raftAddr && cur.httpUrl === httpUrl) return;
    this.#learned.set(id, { raftAddr, httpUrl, voter: true });
  }

  /** Applies a committed member entry. */
  apply(r: MemberRecord): void {
    this.#replicated.set(r.id, { raftAddr: r.raftAddr, httpUrl: r.httpUrl, voter: r.voter });
  }

  /** The best known address of `id`. */
  get(id: NodeId): MemberAddress | undefined {
    return this.#replicated.get(id) ?? this.#seeds.get(id) ?? this.#learned.get(id) ?? this.#derive?.(id);
  }

  /** The replicated record of `id` only (what every node agrees on). */
  replicated(id: NodeId): MemberAddress | undefined {
    return this.#replicated.get(id);
  }

  /** The replicated part, for a snapshot. */
  toJSON(): Record<NodeId, MemberAddress> {
    return Object.fromEntries([...this.#replicated].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Replaces the replicated part with what a snapshot held. */
  restore(data: Record<NodeId, MemberAddress>): void {
    this.#replicated.clear();
    for (const [id, a] of Object.entries(data)) {
      this.#replicated.set(id, { raftAddr: a.raftAddr, httpUrl: a.httpUrl, voter: a.voter !== false });
    }
  }
}
