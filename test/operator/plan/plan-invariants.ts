/**
 * The safety invariants every Plan must keep, computed independently of the planner's own code (its
 * cluster view is not reused) so a bug there cannot hide itself. Used by the generated-state test and the
 * model-driven convergence test.
 */

import type { NodeStatus, Observed } from "../../../operator/src/plan/observed.ts";
import type { Plan } from "../../../operator/src/plan/step.ts";

/** The violations of `p` for `o`, empty when the plan is safe. */
export function planViolations(o: Observed, p: Plan, lagSlack = 64): string[] {
  const bad: string[] = [];
  const sts = o.statefulSet;
  const a = p.action;
  if (!sts) {
    if (a.kind !== "none") bad.push(`no StatefulSet yet, but action ${a.kind}`);
    return bad;
  }
  if (o.paused) {
    if (a.kind !== "none" || p.statefulSetReplicas !== sts.replicas) bad.push("paused, but something changes");
    return bad;
  }
  const answer = (pod: string): NodeStatus | undefined => {
    const n = o.nodes[pod];
    return n?.ok && n.status.id === pod && o.pods.some((x) => x.name === pod) ? n.status : undefined;
  };
  let leader: NodeStatus | undefined;
  for (const pod of o.pods) {
    const s = answer(pod.name);
    if (s?.state === "leader" && (!leader || s.term > leader.term || (s.term === leader.term && s.id < leader.id))) {
      leader = s;
    }
  }
  const config = leader?.members ?? [];
  const entry = (id: string) => config.find((m) => m.id === id);
  const voters = config.filter((m) => m.role === "voter").map((m) => m.id);
  const healthy = (id: string): boolean => {
    const m = entry(id);
    const pod = o.pods.find((x) => x.name === id);
    const s = answer(id);
    if (!leader || !m || !pod || pod.deleting || !s || s.incarnation !== m.incarnation) return false;
    if (id !== leader.id && s.leader?.id !== leader.id) return false;
    const match = id === leader.id ? leader.lastLogIndex : m.match;
    return match !== undefined && leader.commitIndex - match <= lagSlack;
  };
  const majorityHealthy = (ids: string[]) =>
    ids.length > 0 && ids.filter(healthy).length >= Math.floor(ids.length / 2) + 1;
  const ordinal = (id: string) => {
    const m = /-(\d+)$/.exec(id);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const quorum = leader !== undefined && majorityHealthy(voters);
  const podOf = (name: string) => o.pods.find((x) => x.name === name);
  const outdated = (name: string) => podOf(name)?.revision !== sts.updateRevision;

  // StatefulSet size.
  const d = p.statefulSetReplicas - sts.replicas;
  if (Math.abs(d) > 1) bad.push(`StatefulSet replicas jump by ${d}`);
  if (d < 0) {
    const floor = Math.max(0, ...config.map((m) => (ordinal(m.id) ?? -1) + 1));
    if (p.statefulSetReplicas < floor)
      bad.push(`StatefulSet shrinks to ${p.statefulSetReplicas} below member floor ${floor}`);
    if (!quorum) bad.push("StatefulSet shrinks without a quorum");
  }
  if (d !== 0 && a.kind !== "none") bad.push(`both a resize and action ${a.kind}`);

  if (!quorum) {
    const ok =
      a.kind === "none" ||
      a.kind === "deleteClaim" ||
      (a.kind === "deletePod" && outdated(a.pod) && podOf(a.pod)?.startFailure !== undefined && !answer(a.pod));
    if (!ok) bad.push(`quorum lost or no leader, but action ${JSON.stringify(a)}`);
  }

  switch (a.kind) {
    case "none":
      break;
    case "promote": {
      const m = entry(a.id);
      if (m?.role !== "learner") bad.push(`promote of ${a.id}, which is not a learner`);
      if (!healthy(a.id)) bad.push(`promote of unhealthy ${a.id}`);
      if (answer(a.id)?.incarnation !== m?.incarnation) bad.push(`promote of ${a.id} under another incarnation`);
      if (!majorityHealthy([...voters, a.id])) bad.push(`promote of ${a.id} leaves no healthy majority`);
      break;
    }
    case "removeMember": {
      const m = entry(a.id);
      if (!m) bad.push(`remove of ${a.id}, which is not a member`);
      if (a.id === leader?.id) bad.push(`remove of the leader ${a.id}`);
      if (m?.role === "voter" && !majorityHealthy(voters.filter((v) => v !== a.id))) {
        bad.push(`remove of voter ${a.id} leaves no healthy majority`);
      }
      break;
    }
    case "addLearner": {
      const s = answer(a.id);
      const m = entry(a.id);
      if (!s || s.incarnation !== a.incarnation)
        bad.push(`addLearner ${a.id}/${a.incarnation}, which its node does not report`);
      if (m && m.incarnation === a.incarnation)
        bad.push(`addLearner of ${a.id}, already configured under that incarnation`);
      if (a.id === leader?.id) bad.push(`addLearner of the leader ${a.id}`);
      if (m?.role === "voter" && !majorityHealthy(voters.filter((v) => v !== a.id))) {
        bad.push(`addLearner demotes voter ${a.id} and leaves no healthy majority`);
      }
      break;
    }
    case "transferLeader":
      if (a.from !== leader?.id) bad.push(`transfer from ${a.from}, which does not lead`);
      if (a.to === a.from || entry(a.to)?.role !== "voter" || !healthy(a.to))
        bad.push(`transfer to ${a.to}, not a healthy voter`);
      break;
    case "deletePod": {
      const pod = podOf(a.pod);
      if (!pod || pod.deleting) bad.push(`delete of pod ${a.pod}, which is absent or terminating`);
      if (!outdated(a.pod)) bad.push(`delete of up-to-date pod ${a.pod}`);
      if (a.pod === leader?.id && !(voters.length === 1 && voters[0] === a.pod))
        bad.push(`delete of the leader ${a.pod}`);
      if (healthy(a.pod) && entry(a.pod)?.role === "voter") {
        // The configuration keeps the restarting voter: it counts as down.
        const up = voters.filter((v) => v !== a.pod && healthy(v)).length;
        if (up < Math.floor(voters.length / 2) + 1 && !(voters.length <= 2 && voters.every(healthy))) {
          bad.push(`delete of healthy voter ${a.pod} leaves no healthy majority`);
        }
      }
      break;
    }
    case "deleteClaim": {
      const c = o.claims.find((x) => x.name === a.claim);
      if (!c || c.deleting) bad.push(`delete of claim ${a.claim}, which is absent or terminating`);
      else {
        if (c.ordinal < sts.replicas) bad.push(`delete of claim ${a.claim} below the StatefulSet's replicas`);
        if (o.pods.some((x) => x.ordinal === c.ordinal)) bad.push(`delete of claim ${a.claim} whose pod exists`);
        const listed = [...config, ...o.pods.flatMap((x) => answer(x.name)?.members ?? [])];
        if (listed.some((m) => ordinal(m.id) === c.ordinal))
          bad.push(`delete of claim ${a.claim} of a configured member`);
      }
      break;
    }
  }
  return bad;
}
