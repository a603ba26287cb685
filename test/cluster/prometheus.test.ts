/**
 * The dashboard and the alert rules against a real Prometheus scraping a real 3-node cluster: every
 * PromQL expression parses and the core panels have data under write load; promtool accepts the rules and
 * passes their unit tests; killing the leader shows up as leader changes and as the quorum alerts fire.
 *
 * The rules run from a test-only copy whose `for:` durations are divided by 12 (1m -> 5s), so alerts
 * fire within seconds; the expressions are the shipped ones. The operator is not running here: its
 * panels and alert must parse, and return nothing.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadYaml } from "@kubernetes/client-node";
import { TestCluster, waitFor } from "./harness.ts";
import { PrometheusServer as Prom, type PrometheusServer, prometheusBinaries, promtool } from "./prometheus-server.ts";

const root = join(import.meta.dirname, "..", "..");
const RULES = join(root, "charts", "raftkv", "rules", "raftkv-alerts.yaml");
const RULES_TEST = join(root, "charts", "raftkv", "rules", "raftkv-alerts.test.yaml");
const DASHBOARD = join(root, "charts", "raftkv", "dashboards", "raftkv.json");

const NAMESPACE = "test";
const CLUSTER = "demo";

/** Panels that must show data from a cluster under write load (titles as in the dashboard). */
const CORE_PANELS = [
  "Has leader",
  "Members up",
  "Term",
  "Writes/s",
  "Leader per pod",
  "Leader changes",
  "Leader changes (total)",
  "Commit and applied index",
  "Follower lag",
  "Apply lag",
  "Proposals by result",
  "Proposal to commit",
  "Apply",
  "Fsync",
  "Raft RPC latency (append, p99)",
  "HTTP requests",
  "HTTP errors and forwarded share",
  "HTTP latency",
  "CPU",
  "Memory",
  "Event loop lag (p99)",
  "Disk",
];

/** Core-panel queries that may rightly be empty: error shares with no errors, disk-low flags, learners. */
function optionalInCore(expr: string): boolean {
  return /code=~"[45]\.\."|raftkv_disk_low|raftkv_storage_suspended|role="learner"/.test(expr);
}

interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string; expr: string; for?: string }>;
}

/** Go duration ("1m", "15m", "0m", "30s") in seconds. */
function seconds(d: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(d);
  if (!m) throw new Error(`unsupported duration ${d}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

/** The rules with every `for:` divided by 12 (at least 1 s when it was non-zero). */
function fastRules(groups: RuleGroup[]): { groups: RuleGroup[] } {
  return {
    groups: groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) => {
        if (!r.for) return r;
        const s = seconds(r.for);
        return { ...r, for: s === 0 ? "0s" : `${Math.max(1, Math.round(s / 12))}s` };
      }),
    })),
  };
}

/** Every PromQL expression of the dashboard, with its panel title. */
function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const d = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    panels: Array<{ title: string; type: string; targets?: Array<{ expr?: string }> }>;
  };
  return d.panels.flatMap((p) => (p.targets ?? []).flatMap((x) => (x.expr ? [{ panel: p.title, expr: x.expr }] : [])));
}

/** Substitutes the dashboard's template variables as Grafana would for this cluster. */
function substitute(expr: string): string {
  return expr
    .replaceAll("$namespace", NAMESPACE)
    .replaceAll("$cluster", CLUSTER)
    .replaceAll("$__rate_interval", "15s")
    .replaceAll("$__range", "5m");
}

/** Writes keys through every node (followers forward to the leader) until `stop` is aborted. */
async function writeLoad(c: TestCluster, stop: AbortSignal): Promise<number> {
  let ok = 0;
  const worker = async (w: number) => {
    for (let n = 0; !stop.aborted; n++) {
      const i = (w + n) % c.nodes.length;
      if (!c.nodes[i]?.proc) continue;
      try {
        const r = await c.http(i, "POST", "/key", { [`k${w}-${n % 50}`]: n }, 3000);
        if (r.status === 200) ok++;
        await c.http(i, "GET", `/key/k${w}-${n % 50}`, undefined, 3000);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  return ok;
}

const activeAlerts = async (p: PrometheusServer, name: string, state?: string) =>
  (await p.alerts()).filter((a) => a.labels.alertname === name && (!state || a.state === state));

test("dashboard queries and alert rules on a real Prometheus scraping a live cluster", {
  timeout: 240_000,
}, async (t) => {
  const bin = prometheusBinaries();

  // promtool first: the rules file is valid and its unit tests pass.
  const check = promtool(bin, ["check", "rules", RULES]);
  assert.equal(check.code, 0, check.output);
  assert.match(check.output, /SUCCESS: \d+ rules found/);
  const unit = promtool(bin, ["test", "rules", RULES_TEST]);
  assert.equal(unit.code, 0, unit.output);

  const c = await TestCluster.create(t, { size: 3 });
  c.startAll();
  await c.waitLeader();

  const groups = (loadYaml(readFileSync(RULES, "utf8")) as { groups: RuleGroup[] }).groups;
  const targets = c.nodes.map((n) => ({
    address: `127.0.0.1:${n.httpPort}`,
    labels: { namespace: NAMESPACE, raftkv: CLUSTER, pod: n.id },
  }));
  const prom = await Prom.start(t, bin, targets, fastRules(groups));

  const stop = new AbortController();
  t.after(() => stop.abort());
  const load = writeLoad(c, stop.signal);

  await t.test("Prometheus scrapes all three nodes and loads every rule", async () => {
    await waitFor("3 healthy targets", 20_000, async () => {
      const up = await prom.query(`up{raftkv="${CLUSTER}"} == 1`);
      return up.length === 3 ? true : undefined;
    });
    const rules = await prom.api<{ groups: Array<{ rules: Array<{ name: string; health: string }> }> }>(
      "/api/v1/rules",
    );
    const loaded = rules.groups.flatMap((g) => g.rules);
    assert.equal(loaded.length, groups.flatMap((g) => g.rules).length);
    for (const r of loaded) assert.notEqual(r.health, "err", `rule ${r.name} fails to evaluate`);
  });

  await t.test("the template variables find this cluster", async () => {
    const ns = await prom.api<string[]>("/api/v1/label/namespace/values", { "match[]": "raftkv_term" });
    assert.ok(ns.includes(NAMESPACE), `namespaces: ${ns}`);
    const names = await prom.api<string[]>("/api/v1/label/raftkv/values", {
      "match[]": `raftkv_term{namespace="${NAMESPACE}"}`,
    });
    assert.deepEqual(names, [CLUSTER]);
  });

  await t.test("every dashboard query parses; the core panels have data under write load", async () => {
    const queries = dashboardQueries();
    assert.ok(queries.length > 40, `only ${queries.length} queries found in raftkv.json`);
    for (const title of CORE_PANELS)
      assert.ok(
        queries.some((q) => q.panel === title),
        `no panel titled ${title}`,
      );
    // Every query parses (an error throws at once); operator panels are empty since no operator runs.
    for (const q of queries) {
      const result = await prom.query(substitute(q.expr)).catch((e: Error) => {
        throw new Error(`panel "${q.panel}": ${e.message}\n  ${q.expr}`);
      });
      if (q.panel.startsWith("Reconcile") || q.panel.startsWith("Operator") || q.panel === "Membership operations")
        assert.equal(result.length, 0, `operator panel "${q.panel}" has data, but no operator runs`);
    }
    // Rates need a few scrapes of the load: poll until every core query has a finite value (bounded).
    const core = queries.filter((q) => CORE_PANELS.includes(q.panel) && !optionalInCore(q.expr));
    await waitFor("every core panel to have data", 30_000, async () => {
      const missing: string[] = [];
      for (const q of core) {
        const result = await prom.query(substitute(q.expr));
        if (!result.some((s) => Number.isFinite(Number(s.value[1])))) missing.push(`${q.panel}: ${q.expr}`);
      }
      if (missing.length > 0) throw new Error(`no data yet for\n  ${missing.join("\n  ")}`);
      return true;
    });
    const learners = await prom.query(substitute(`max(raftkv_members{raftkv="$cluster", role="learner"})`));
    assert.equal(Number(learners[0]?.value[1]), 0, "no learners");
    // For the record: panels none of whose queries has data here.
    const withData = new Set<string>();
    for (const q of queries)
      if ((await prom.query(substitute(q.expr))).some((x) => Number.isFinite(Number(x.value[1]))))
        withData.add(q.panel);
    const empty = new Set(queries.map((q) => q.panel).filter((p) => !withData.has(p)));
    t.diagnostic(`panels with no data under load (no snapshots, failures or operator here): ${[...empty].join(", ")}`);
    // Values that must be right, not merely present: Prometheus's leader is the cluster's (leadership may
    // move under load on a busy machine, so compare against the current one, with a bounded retry).
    const lagExpr = substitute(queries.find((q) => q.panel === "Follower lag")?.expr ?? "missing");
    await waitFor("Prometheus to show the current leader and its two followers' lag", 20_000, async () => {
      const now = c.nodes[await c.waitLeader()]?.id;
      const lead = (await prom.query(substitute(`raftkv_is_leader{raftkv="$cluster"} == 1`))).map((x) => x.metric.pod);
      const lag = (await prom.query(lagExpr)).map((x) => `${x.metric.pod}->${x.metric.peer}`).sort();
      const want = c.nodes.filter((n) => n.id !== now).map((n) => `${now}->${n.id}`);
      assert.deepEqual({ lead, lag }, { lead: [now], lag: want });
      return true;
    });
  });

  await t.test("every alert expression parses; none fires on a healthy cluster", async () => {
    for (const r of groups.flatMap((g) => g.rules)) {
      await prom.query(r.expr).catch((e: Error) => {
        throw new Error(`alert ${r.alert}: ${e.message}`);
      });
    }
    const firing = (await prom.alerts()).filter((a) => a.state === "firing").map((a) => a.labels.alertname);
    assert.deepEqual(firing, []);
  });

  await t.test(
    "killing the leader: survivors count a leader change, quorum-at-risk fires, no-leader does not",
    async () => {
      const leader = await c.waitLeader();
      const survivors = [0, 1, 2].filter((i) => i !== leader);
      const before = new Map<string, number>();
      for (const s of await prom.query(`raftkv_leader_changes_total{raftkv="${CLUSTER}"}`))
        before.set(s.metric.pod ?? "", Number(s.value[1]));
      await c.kill(leader, "SIGKILL");
      await c.waitLeader(survivors, 3);
      await waitFor("leader changes to rise on both survivors in Prometheus", 20_000, async () => {
        const now = await prom.query(`raftkv_leader_changes_total{raftkv="${CLUSTER}"}`);
        const rose = survivors.every((i) => {
          const pod = c.nodes[i]?.id ?? "";
          const v = now.find((s) => s.metric.pod === pod);
          return v !== undefined && Number(v.value[1]) > (before.get(pod) ?? Number.POSITIVE_INFINITY);
        });
        return rose ? true : undefined;
      });
      const quorum = await waitFor("RaftkvQuorumAtRisk to fire", 30_000, async () => {
        const a = await activeAlerts(prom, "RaftkvQuorumAtRisk", "firing");
        return a.length > 0 ? a : undefined;
      });
      assert.equal(quorum[0]?.labels.raftkv, CLUSTER);
      assert.equal(quorum[0]?.labels.severity, "critical");
      assert.equal(Number(quorum[0]?.value), 2, "two healthy members");
      const down = await waitFor("RaftkvMemberDown to fire for the killed pod", 30_000, async () => {
        const a = await activeAlerts(prom, "RaftkvMemberDown", "firing");
        return a.length > 0 ? a : undefined;
      });
      assert.deepEqual(
        down.map((a) => a.labels.pod),
        [c.nodes[leader]?.id],
      );
      assert.deepEqual(await activeAlerts(prom, "RaftkvNoLeader", "firing"), [], "two of three still have a leader");
    },
  );

  await t.test("killing a second member: no leader, and RaftkvNoLeader fires", async () => {
    const victim = c.running()[0] as number;
    await c.kill(victim, "SIGKILL");
    const a = await waitFor("RaftkvNoLeader to fire", 40_000, async () => {
      const got = await activeAlerts(prom, "RaftkvNoLeader", "firing");
      return got.length > 0 ? got : undefined;
    });
    assert.deepEqual(
      { raftkv: a[0]?.labels.raftkv, namespace: a[0]?.labels.namespace, severity: a[0]?.labels.severity },
      { raftkv: CLUSTER, namespace: NAMESPACE, severity: "critical" },
    );
  });

  stop.abort();
  const writes = await load;
  assert.ok(writes > 0, "the load committed writes");
});
