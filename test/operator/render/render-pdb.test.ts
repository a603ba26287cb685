import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { selectorLabels } from "../../../operator/src/render/names.ts";
import { quorumOf, renderPdb } from "../../../operator/src/render/render-pdb.ts";
import { raftkv } from "./fixtures.ts";

const pdb = (replicas: number, enabled = true) =>
  renderPdb(raftkv({ replicas, podDisruptionBudget: { enabled } })) as V1PodDisruptionBudget | undefined;

test("minAvailable is a quorum of spec.replicas", () => {
  assert.equal(pdb(3)?.spec?.minAvailable, 2);
  assert.equal(pdb(4)?.spec?.minAvailable, 3);
  assert.equal(pdb(5)?.spec?.minAvailable, 3);
  assert.equal(pdb(7)?.spec?.minAvailable, 4);
  assert.equal(pdb(9)?.spec?.minAvailable, 5);
  assert.deepEqual([1, 2, 3, 4, 5].map(quorumOf), [1, 2, 2, 3, 3]);
});

test("the PDB selects the pods, lets unhealthy pods go, and is a policy/v1 object", () => {
  const r = raftkv({ replicas: 5 }, { name: "demo", namespace: "prod" });
  const p = renderPdb(r) as V1PodDisruptionBudget;
  assert.equal(p.apiVersion, "policy/v1");
  assert.equal(p.kind, "PodDisruptionBudget");
  assert.equal(p.metadata?.name, "demo");
  assert.equal(p.metadata?.namespace, "prod");
  assert.deepEqual(p.spec?.selector, { matchLabels: selectorLabels(r) });
  assert.equal(p.spec?.unhealthyPodEvictionPolicy, "AlwaysAllow");
  assert.equal(p.spec?.maxUnavailable, undefined);
});

test("no PDB when switched off, nor for 1 or 2 replicas (no failure tolerance: it would block every drain)", () => {
  assert.equal(pdb(5, false), undefined);
  assert.equal(pdb(3, false), undefined);
  assert.equal(pdb(1), undefined);
  assert.equal(pdb(2), undefined);
  assert.notEqual(pdb(3), undefined);
});
