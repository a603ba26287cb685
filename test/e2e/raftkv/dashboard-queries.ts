/**
 * A real Prometheus on the host scraping a RaftKV's pods at their IPs (static targets on port 11000 with
 * the labels the dashboard expects: namespace, raftkv, pod), and the dashboard's core queries evaluated
 * against it with its variables filled in.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { PrometheusServer, prometheusBinaries } from "../../cluster/prometheus-server.ts";
import { podIps, serviceUrl, until, type World } from "./world.ts";
import { startWriter } from "./writer.ts";

const DASHBOARD = join(import.meta.dirname, "..", "..", "..", "charts", "raftkv", "dashboards", "raftkv.json");

/** Metrics whose dashboard panels must have data on a healthy cluster taking writes. */
const CORE = [
  "raftkv_has_leader",
  "up",
  "raftkv_members",
  "raftkv_term",
  "raftkv_is_leader",
  "raftkv_commit_index",
  "raftkv_applied_index",
  "raftkv_proposals_total",
  "raftkv_leader_changes_total",
  "raftkv_proposal_commit_seconds_bucket",
  "raftkv_disk_free_bytes",
];

/** Every `expr` of the dashboard's panels. */
function dashboardExprs(): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "expr" && typeof x === "string") out.push(x);
        else walk(x);
      }
    }
  };
  walk(JSON.parse(readFileSync(DASHBOARD, "utf8")));
  return out;
}

/** Starts Prometheus on the pods of `raftkv`, writes for a while, and asserts the core queries return data. */
export async function dashboardQueriesAnswer(t: TestContext, w: World, raftkv: string): Promise<void> {
  const targets = [...(await podIps(w, raftkv))].map(([pod, ip]) => ({
    address: `${ip}:11000`,
    labels: { namespace: w.ns, raftkv, pod },
  }));
  assert.equal(targets.length, 3);
  const prom = await PrometheusServer.start(t, prometheusBinaries(), targets, { groups: [] });
  const svc = await serviceUrl(w, raftkv);
  const writer = startWriter(() => svc, "metrics", 1);
  const fill = (e: string) =>
    e
      .replaceAll("$namespace", w.ns)
      .replaceAll("$cluster", raftkv)
      .replaceAll("$__rate_interval", "30s")
      .replaceAll("$__range", "5m");
  const core = dashboardExprs().filter((e) => CORE.some((m) => new RegExp(`\\b${m}\\{`).test(e)));
  assert.ok(core.length >= 10, `the dashboard has the core queries (${core.length})`);
  try {
    await until("every core dashboard query to return data", 90_000, async () => {
      const empty: string[] = [];
      for (const e of core) if ((await prom.query(fill(e))).length === 0) empty.push(e);
      if (empty.length > 0) throw new Error(`no data yet for: ${empty.join(" | ")}`);
      return true;
    });
  } finally {
    await writer.stop();
  }
  const up = await prom.query(fill('sum(up{namespace="$namespace", raftkv="$cluster"})'));
  assert.equal(up[0]?.value[1], "3", "all three pods are scraped");
  const hasLeader = await prom.query(fill('max(raftkv_has_leader{namespace="$namespace", raftkv="$cluster"})'));
  assert.equal(hasLeader[0]?.value[1], "1");
  const voters = await prom.query(fill('max(raftkv_members{namespace="$namespace", raftkv="$cluster", role="voter"})'));
  assert.equal(voters[0]?.value[1], "3");
}
