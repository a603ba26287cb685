/** Random observed clusters for the planner's generated-state test (3-9 members, every kind of trouble). */

import type { Observed } from "../../../operator/src/plan/observed.ts";
import { type ClusterSpec, cluster, OLD, type PodSpec } from "./fixtures.ts";
import type { Prng } from "./prng.ts";

/** One random observation: health, leaders (sometimes two, sometimes none), learners, wiped disks, claims. */
export function randomObserved(r: Prng): Observed {
  const n = r.int(3, 9);
  const replicas = r.chance(0.25) ? Math.max(1, Math.min(10, n + r.int(-2, 2))) : n;
  const commit = r.int(0, 5000);
  const leader = r.chance(0.85) ? (r.chance(0.2) ? n - 1 : r.int(0, n - 1)) : undefined;
  const pods: PodSpec[] = [];
  const healthyBias = 0.6 + 0.4 * r.next();
  const upgrading = r.chance(0.3);
  for (let i = 0; i < Math.max(n, replicas) + (r.chance(0.2) ? 1 : 0); i++) {
    const isLeader = i === leader;
    const trouble = !isLeader && !r.chance(healthyBias);
    const p: PodSpec = {
      ordinal: i,
      role: isLeader ? "voter" : i >= n || r.chance(0.05) ? "none" : r.chance(0.8) ? "voter" : "learner",
    };
    if (trouble) {
      const kind = r.int(0, 6);
      if (kind === 0) p.noPod = true;
      else if (kind === 1) p.silent = true;
      else if (kind === 2) p.answersAs = `wiped-${i}-${r.int(0, 9)}`;
      else if (kind === 3) p.knowsLeader = false;
      else if (kind === 4) p.match = r.int(0, commit);
      else if (kind === 5) p.deleting = true;
      else {
        p.silent = true;
        p.startFailure = r.pick(["ImagePullBackOff", "CrashLoopBackOff", "ErrImagePull"]);
      }
    } else if (!isLeader) {
      p.match = Math.max(0, commit - r.int(0, 64));
    }
    if (upgrading && r.chance(0.5)) p.revision = OLD;
    if (r.chance(0.05) && !isLeader) p.deleting = true;
    pods.push(p);
  }
  const claims: number[] = [];
  const deletingClaims: number[] = [];
  for (let i = 0; i < 12; i++) {
    const leftover = i >= replicas;
    if (leftover ? r.chance(0.03) : r.chance(0.95)) (r.chance(0.05) ? deletingClaims : claims).push(i);
  }
  const spec: ClusterSpec = {
    desired: r.chance(0.5) ? replicas : r.int(1, 9),
    replicas,
    leader,
    commit,
    term: 5,
    pods,
    claims,
    deletingClaims,
    paused: r.chance(0.02),
    noStatefulSet: r.chance(0.02),
  };
  const o = cluster(spec);
  // Sometimes a second node claims to lead, in an older or newer term (it then knows only its own view).
  if (r.chance(0.1)) {
    const names = Object.keys(o.nodes);
    const rival = o.nodes[r.pick(names)];
    if (rival?.ok && rival.status.state !== "leader") {
      rival.status.state = "leader";
      rival.status.term = r.pick([4, 6]);
      rival.status.leader = { id: rival.status.id };
    }
  }
  return o;
}
