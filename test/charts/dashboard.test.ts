import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { buildDashboard, DASHBOARD_UID, VARIABLES } from "../../charts/raftkv/dashboards/dashboard.ts";
import { DASHBOARD_FILE, isCurrent } from "../../scripts/gen-dashboard.ts";

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; refId: string; legendFormat: string }>;
}

const dashboard = buildDashboard() as unknown as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
};
const panels = dashboard.panels.filter((p) => p.type !== "row");
const targets = panels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, ...x })));

test("the committed raftkv.json is what the code generates (run node scripts/gen-dashboard.ts)", () => {
  assert.ok(isCurrent(), `${DASHBOARD_FILE} is stale: run node scripts/gen-dashboard.ts`);
  assert.deepEqual(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")), JSON.parse(JSON.stringify(buildDashboard())));
});

test("building is deterministic", () => {
  assert.equal(JSON.stringify(buildDashboard()), JSON.stringify(buildDashboard()));
});

test("variables: datasource, namespace, cluster (the raftkv label)", () => {
  assert.equal(dashboard.uid, DASHBOARD_UID);
  assert.deepEqual(
    dashboard.templating.list.map((v) => v.name),
    [...VARIABLES],
  );
  const cluster = dashboard.templating.list.find((v) => v.name === "cluster");
  assert.match(String(cluster?.query), /label_values\(raftkv_term\{namespace="\$namespace"\}, raftkv\)/);
});

test("every panel queries the chosen data source and fits the 24-column grid", () => {
  assert.ok(panels.length >= 30, `${panels.length} panels`);
  for (const p of panels) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
    assert.deepEqual(p.datasource, { type: "prometheus", uid: "${datasource}" }, p.title);
    assert.ok(p.gridPos && p.gridPos.x + p.gridPos.w <= 24, `${p.title} overflows: ${JSON.stringify(p.gridPos)}`);
    const refs = (p.targets ?? []).map((x) => x.refId);
    assert.equal(new Set(refs).size, refs.length, `${p.title}: duplicate refIds`);
    assert.ok(refs.length > 0, `${p.title} has no query`);
  }
});

test("node queries select one RaftKV; only Grafana's and the dashboard's variables are used", () => {
  for (const x of targets) {
    const vars = [...x.expr.matchAll(/\$(\w+)/g)].map((m) => m[1]);
    for (const v of vars)
      assert.ok(["namespace", "cluster", "__rate_interval", "__range"].includes(v ?? ""), `${x.panel}: $${v}`);
    if (x.expr.includes("raftkv_operator_")) continue;
    // Every metric selector of a node query carries the two matchers.
    const withoutGrouping = x.expr.replaceAll(/\b(by|on|without|ignoring) \([^)]*\)/g, "");
    for (const m of withoutGrouping.matchAll(/\b([a-z_]+)(\{[^}]*\})?(\[|\)|\s|$)/g)) {
      const name = m[1] ?? "";
      if (!/^(raftkv|process|nodejs|up$)/.test(name)) continue;
      assert.match(m[2] ?? "", /namespace="\$namespace", raftkv="\$cluster"/, `${x.panel}: ${name} in ${x.expr}`);
    }
  }
});

test("the panels the issue asks for are there", () => {
  const titles = new Set(panels.map((p) => p.title));
  for (const t of [
    "Leader per pod",
    "Term",
    "Leader changes",
    "Leader changes (total)",
    "Has leader",
    "Commit and applied index",
    "Follower lag",
    "Proposals by result",
    "Proposal to commit",
    "Apply",
    "Fsync",
    "Raft RPC latency (append, p99)",
    "Snapshots",
    "HTTP requests",
    "HTTP errors and forwarded share",
    "CPU",
    "Memory",
    "Reconciles",
  ])
    assert.ok(titles.has(t), `missing panel ${t}`);
  const quantiles = targets.filter((x) => x.panel === "Fsync").map((x) => x.legendFormat);
  assert.deepEqual(quantiles, ["p50 {{pod}}", "p99 {{pod}}"]);
});
