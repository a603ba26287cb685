import type { ConfChange, Entry, Incarnation, Membership, NodeId } from "./types.ts";

/** An empty configuration: a node that was never bootstrapped nor added. */
export function emptyMembership(): Membership {
  return { voters: {}, learners: {} };
}

/** Serialises a configuration with sorted keys so equal configurations give equal entries. */
export function encodeMembership(m: Membership): string {
  const sort = (r: Record<string, string>) =>
    Object.fromEntries(
      Object.keys(r)
        .sort()
        .map((k) => [k, r[k]]),
    );
  return JSON.stringify({ voters: sort(m.voters), learners: sort(m.learners) });
}

/** Parses a `config` entry's data. */
export function decodeMembership(data: string): Membership {
  const m = JSON.parse(data) as Membership;
  return { voters: { ...m.voters }, learners: { ...m.learners } };
}

/** Voter ids in a stable order. */
export function voterIds(m: Membership): NodeId[] {
  return Object.keys(m.voters).sort();
}

/** Voter and learner ids in a stable order. */
export function memberIds(m: Membership): NodeId[] {
  return [...Object.keys(m.voters), ...Object.keys(m.learners)].sort();
}

/** The incarnation `id` is bound to, as voter or learner. */
export function incarnationOf(m: Membership, id: NodeId): Incarnation | undefined {
  return m.voters[id] ?? m.learners[id];
}

/** True when `id` under `inc` is a voter of `m`. */
export function isVoter(m: Membership, id: NodeId, inc: Incarnation): boolean {
  return m.voters[id] === inc;
}

/** Applies one single-server change, or returns why it is not allowed. */
export function applyChange(m: Membership, cc: ConfChange): Membership | string {
  const next: Membership = { voters: { ...m.voters }, learners: { ...m.learners } };
  switch (cc.op) {
    case "addLearner": {
      if (!cc.id || !cc.incarnation) return "addLearner needs an id and an incarnation";
      if (next.voters[cc.id] === cc.incarnation) return `${cc.id} is already a voter`;
      if (next.learners[cc.id] === cc.incarnation) return `${cc.id} is already a learner`;
      // A voter re-added under a new incarnation (its disk was wiped) is demoted:
      // that removes one voter, which is still a single-server change.
      delete next.voters[cc.id];
      next.learners[cc.id] = cc.incarnation;
      return next;
    }
    case "promote": {
      const inc = next.learners[cc.id];
      if (inc === undefined) return `${cc.id} is not a learner`;
      delete next.learners[cc.id];
      next.voters[cc.id] = inc;
      return next;
    }
    case "remove": {
      if (next.voters[cc.id] === undefined && next.learners[cc.id] === undefined) return `${cc.id} is not a member`;
      delete next.voters[cc.id];
      delete next.learners[cc.id];
      if (Object.keys(next.voters).length === 0) return "cannot remove the last voter";
      return next;
    }
  }
}

/** The last `config` entry among `entries`: configurations take effect when appended (thesis §4.1). */
export function latestConfig(entries: Entry[]): { config: Membership; index: number } | undefined {
  for (let k = entries.length - 1; k >= 0; k--) {
    const e = entries[k] as Entry;
    if (e.type === "config") return { config: decodeMembership(e.data), index: e.index };
  }
  return undefined;
}
