import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planMembership } from "../../../operator/src/plan/membership-planner.ts";
import type { Plan } from "../../../operator/src/plan/step.ts";
import { ClusterModel } from "./membership-model.ts";
import { planViolations } from "./plan-invariants.ts";
import { Prng } from "./prng.ts";

/** Steps allowed, once faults stop, to reach the desired size, all healthy voters, all updated. */
const CONVERGE_STEPS = 200;

interface Outcome {
  seed: number;
  /** Steps from the last fault to convergence, or the reason it failed. */
  steps?: number;
  failure?: string;
  trace: string[];
  /** Plans made, by action kind (and phase), and faults injected, by kind. */
  seen: Map<string, number>;
}

/** Runs one seed: faults and user changes for a while, then none; checks invariants at every step. */
function runSeed(seed: number): Outcome {
  const r = new Prng(seed);
  const kvStore = r.chance(0.7) ? "leveldb" : "memory";
  const m = new ClusterModel(r, r.int(1, 9), kvStore);
  const faultSteps = r.int(10, 120);
  const trace: string[] = [`seed ${seed} kvStore ${kvStore} desired ${m.desired}`];
  const seen = new Map<string, number>();
  const count = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
  const fail = (failure: string): Outcome => ({ seed, failure, trace: [...trace.slice(-25), m.describe()], seen });
  const log = (line: string) => {
    const last = trace.at(-1) ?? "";
    const body = line.replace(/^\d+: /, "");
    if (last.replace(/^\d+: /, "").replace(/ \(x\d+\)$/, "") === body) {
      const n = Number(/ \(x(\d+)\)$/.exec(last)?.[1] ?? 1) + 1;
      trace[trace.length - 1] = `${last.replace(/ \(x\d+\)$/, "")} (x${n})`;
    } else trace.push(line);
  };
  for (let step = 0; step < faultSteps + CONVERGE_STEPS; step++) {
    const o = m.observe();
    let p: Plan;
    try {
      p = planMembership(o);
    } catch (e) {
      return fail(`step ${step}: planner threw ${String(e)}`);
    }
    log(`${step}: ${p.phase}/${p.reason} sts=${p.statefulSetReplicas} ${JSON.stringify(p.action)} ${p.message}`);
    count(`${p.action.kind}/${p.phase}`);
    if (o.statefulSet && p.statefulSetReplicas !== o.statefulSet.replicas) count(`resize/${p.phase}`);
    const bad = planViolations(o, p);
    if (bad.length > 0) return fail(`step ${step}: ${bad.join("; ")}`);
    const availableBefore = m.available();
    const voters = m.config.filter((c) => c.role === "voter").length;
    m.apply(p);
    m.tick();
    // Only a cluster of one or two voters (no failure tolerance at all) may go down for a restart.
    if (availableBefore && !m.available() && !(p.action.kind === "deletePod" && voters <= 2)) {
      return fail(`step ${step}: the plan took the cluster's majority down`);
    }
    if (m.violations.length > 0) return fail(`step ${step}: ${m.violations.join("; ")}`);
    if (step < faultSteps) {
      if (r.chance(0.4)) {
        const f = m.fault();
        count(`fault ${f.split(" ")[0]}`);
        trace.push(`fault: ${f}`);
      }
    } else if (step === faultSteps) {
      // The user's last word: a template that starts, and a size the store can upgrade at.
      if (m.badRevisions.has(m.updateRevision)) m.newRevision(false);
      if (kvStore === "memory" && m.desired === 2) m.desired = 3;
      trace.push(`faults stop: desired ${m.desired} revision ${m.updateRevision}`);
    } else if (m.notConverged() === undefined && p.phase === "Stable") {
      return { seed, steps: step - faultSteps, trace, seen };
    }
  }
  return fail(
    `not converged within ${CONVERGE_STEPS} steps after the faults: ${m.notConverged() ?? "plan not Stable"}`,
  );
}

describe("membership planner against the cluster model", () => {
  it("keeps every invariant and converges after faults, from thousands of seeds", () => {
    const seeds = Number(process.env.MODEL_SEEDS ?? 2000);
    const first = Number(process.env.MODEL_FIRST_SEED ?? 1);
    const failures: Outcome[] = [];
    const seen = new Map<string, number>();
    let maxSteps = 0;
    for (let seed = first; seed < first + seeds; seed++) {
      const out = runSeed(seed);
      if (out.failure) failures.push(out);
      else maxSteps = Math.max(maxSteps, out.steps ?? 0);
      for (const [k, n] of out.seen) seen.set(k, (seen.get(k) ?? 0) + n);
    }
    for (const f of failures.slice(0, 3))
      console.error(`FAILED seed ${f.seed}: ${f.failure}\n  ${f.trace.join("\n  ")}`);
    assert.equal(failures.length, 0, `failing seeds: ${failures.map((f) => f.seed).join(", ")}`);
    if (process.env.MODEL_STATS) console.log(`longest convergence: ${maxSteps} steps`, [...seen].sort());
    // The runs must exercise every rule and fault, or their passing proves little.
    const wanted = [
      "addLearner/ScalingUp",
      "addLearner/Rejoining",
      "promote/ScalingUp",
      "removeMember/ScalingDown",
      "transferLeader/ScalingDown",
      "transferLeader/Upgrading",
      "deletePod/Upgrading",
      "deletePod/Blocked",
      "deleteClaim/ScalingDown",
      "resize/ScalingUp",
      "resize/ScalingDown",
      "none/Blocked",
      "fault crash",
      "fault wipe",
      "fault leader",
      "fault template",
      "fault desired",
    ];
    for (const k of wanted)
      assert.ok((seen.get(k) ?? 0) >= Math.min(10, seeds / 100), `${k} happened ${seen.get(k) ?? 0} times`);
  });

  it("a seed replays identically", () => {
    assert.deepEqual(runSeed(42), runSeed(42));
  });
});
