/** The Raft gauges of the metrics (role, term, indexes, members, follower progress) from a core. */

import { metrics, setFollowerMatch } from "../metrics.ts";
import type { RaftCore } from "../raft/core.ts";

/** Sets every Raft gauge from `c` and the node's applied index. */
export function updateRaftGauges(c: RaftCore, applied: number): void {
  metrics.isLeader.set(c.state === "leader" ? 1 : 0);
  metrics.hasLeader.set(c.lead ? 1 : 0);
  metrics.term.set(c.term);
  metrics.commitIndex.set(c.log.committed);
  metrics.appliedIndex.set(applied);
  metrics.lastLogIndex.set(c.log.lastIndex());
  metrics.members.set({ role: "voter" }, Object.keys(c.config.voters).length);
  metrics.members.set({ role: "learner" }, Object.keys(c.config.learners).length);
  setFollowerMatch(c.state === "leader" ? followerMatches(c) : undefined);
}

/** The leader's match index of every other member (voters and learners), by id. */
function followerMatches(c: RaftCore): Map<string, number> {
  const m = new Map<string, number>();
  for (const [id, pr] of c.prs) if (id !== c.id) m.set(id, pr.match);
  return m;
}
