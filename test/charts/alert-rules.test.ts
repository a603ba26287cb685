import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadYaml } from "@kubernetes/client-node";

const dir = join(import.meta.dirname, "..", "..", "charts", "raftkv", "rules");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (
  loadYaml(readFileSync(join(dir, "raftkv-alerts.yaml"), "utf8")) as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((g) => g.rules);
const cases = (
  loadYaml(readFileSync(join(dir, "raftkv-alerts.test.yaml"), "utf8")) as {
    tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
  }
).tests.flatMap((t) => t.alert_rule_test);

test("the alerts the issue asks for exist", () => {
  const names = rules.map((r) => r.alert);
  for (const a of [
    "RaftkvNoLeader",
    "RaftkvFrequentLeaderChanges",
    "RaftkvQuorumAtRisk",
    "RaftkvFollowerLagGrowing",
    "RaftkvProposalsFailing",
    "RaftkvSlowFsync",
    "RaftkvOperatorReconcileErrors",
  ])
    assert.ok(names.includes(a), `missing ${a}`);
  assert.equal(new Set(names).size, names.length, "duplicate alert names");
});

test("every alert has a severity, a summary and a runbook-like description", () => {
  for (const r of rules) {
    assert.ok(["critical", "warning"].includes(r.labels?.severity ?? ""), `${r.alert}: severity`);
    assert.ok((r.annotations?.summary ?? "").length > 10, `${r.alert}: summary`);
    assert.ok((r.annotations?.description ?? "").length > 150, `${r.alert}: description too short for a runbook`);
    assert.match(r.for ?? "", /^\d+[smh]$/, `${r.alert}: for`);
  }
});

test("every alert has a firing and a not-firing promtool case", () => {
  for (const r of rules) {
    const mine = cases.filter((c) => c.alertname === r.alert);
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length > 0),
      `${r.alert}: no firing case`,
    );
    assert.ok(
      mine.some((c) => (c.exp_alerts ?? []).length === 0),
      `${r.alert}: no not-firing case`,
    );
  }
});
