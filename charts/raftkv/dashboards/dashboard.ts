/**
 * The raftkv Grafana dashboard, built with @grafana/grafana-foundation-sdk. `node scripts/gen-dashboard.ts`
 * writes its JSON to charts/raftkv/dashboards/raftkv.json, and a unit test keeps that file equal to this code.
 *
 * It expects every node target to carry the labels `namespace`, `raftkv` (the RaftKV's name, from the pod
 * label app.kubernetes.io/instance) and `pod`; the operator's panels read the operator's metrics wherever
 * they come from (they carry no RaftKV label).
 */

import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DS, q, quantiles, rate, sel, series, stat } from "./panels.ts";

/** The dashboard's uid: stable, so re-importing replaces it instead of adding a copy. */
export const DASHBOARD_UID = "raftkv-overview";

/** The template variables the queries use: `$namespace` and `$cluster` (matched against the `raftkv` label). */
export const VARIABLES = ["datasource", "namespace", "cluster"] as const;

/** Follower lag in entries, from the leader's view: its last log index minus each follower's match index. */
const FOLLOWER_LAG = `raftkv_last_log_index${sel()} - on (namespace, raftkv, pod) group_right raftkv_follower_match_index${sel()}`;

/** Builds the dashboard (pure: the same object every call). */
export function buildDashboard(): Dashboard {
  const b = new DashboardBuilder("raftkv")
    .uid(DASHBOARD_UID)
    .description("One RaftKV cluster: Raft leadership and replication, the write path, the client API, the operator.")
    .tags(["raftkv"])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .timezone("browser")
    .withVariable(new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"))
    .withVariable(
      new QueryVariableBuilder("namespace")
        .label("Namespace")
        .datasource(DS)
        .query("label_values(raftkv_term, namespace)")
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc),
    )
    .withVariable(
      new QueryVariableBuilder("cluster")
        .label("RaftKV")
        .description("The RaftKV's name: the `raftkv` target label (the pods' app.kubernetes.io/instance).")
        .datasource(DS)
        .query('label_values(raftkv_term{namespace="$namespace"}, raftkv)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc),
    );

  b.withRow(new RowBuilder("Overview"))
    .withPanel(
      stat("Has leader", "0 when no member knows a leader: writes and linearizable reads fail.", "none", [
        q(`max(raftkv_has_leader${sel()})`, "has leader"),
      ]),
    )
    .withPanel(
      stat(
        "Members up",
        "Node targets Prometheus scrapes successfully, against the voters in the configuration.",
        "none",
        [
          q(`sum(up${sel()})`, "up"),
          q(`max(raftkv_members${sel('role="voter"')})`, "voters"),
          q(`max(raftkv_members${sel('role="learner"')})`, "learners"),
        ],
      ),
    )
    .withPanel(
      stat(
        "Leader changes in range",
        "New leaders seen in the time range (the most any member saw).",
        "none",
        [q(`max(increase(raftkv_leader_changes_total${sel()}[$__range]))`, "changes")],
        3,
      ),
    )
    .withPanel(stat("Term", "The highest Raft term.", "none", [q(`max(raftkv_term${sel()})`, "term")]))
    .withPanel(
      stat("Writes/s", "Committed proposals per second.", "ops", [
        q(`sum(${rate("raftkv_proposals_total", 'result="committed"')})`, "committed"),
      ]),
    );

  b.withRow(new RowBuilder("Leadership"))
    .withPanel(
      series("Leader per pod", "1 on the pod that leads.", "none", [q(`raftkv_is_leader${sel()}`, "{{pod}}")], {
        min: 0,
        max: 1,
        stepped: true,
      }),
    )
    .withPanel(series("Term", "Raft term per pod.", "none", [q(`raftkv_term${sel()}`, "{{pod}}")], { stepped: true }))
    .withPanel(
      series("Has leader", "1 while the pod knows a leader.", "none", [q(`raftkv_has_leader${sel()}`, "{{pod}}")], {
        min: 0,
        max: 1,
        stepped: true,
      }),
    )
    .withPanel(
      series(
        "Leader changes",
        "New leaders seen per minute, per pod.",
        "none",
        [q(`sum by (pod) (${rate("raftkv_leader_changes_total")}) * 60`, "{{pod}}")],
        { span: 12, min: 0 },
      ),
    )
    .withPanel(
      series(
        "Leader changes (total)",
        "The counter per pod (it restarts at 0 with the process).",
        "none",
        [q(`raftkv_leader_changes_total${sel()}`, "{{pod}}")],
        { span: 12, min: 0, stepped: true },
      ),
    );

  b.withRow(new RowBuilder("Replication"))
    .withPanel(
      series("Commit and applied index", "Per pod: highest committed and applied log index.", "none", [
        q(`raftkv_commit_index${sel()}`, "commit {{pod}}"),
        q(`raftkv_applied_index${sel()}`, "applied {{pod}}"),
      ]),
    )
    .withPanel(
      series(
        "Follower lag",
        "On the leader: its last log index minus each follower's match index, in entries.",
        "none",
        [q(FOLLOWER_LAG, "{{peer}}")],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Apply lag",
        "Per pod: the cluster's highest commit index minus the pod's applied index, in entries.",
        "none",
        [
          q(
            `max by (namespace, raftkv) (raftkv_commit_index${sel()}) - on (namespace, raftkv) group_right raftkv_applied_index${sel()}`,
            "{{pod}}",
          ),
        ],
        { min: 0 },
      ),
    );

  b.withRow(new RowBuilder("Write path"))
    .withPanel(
      series(
        "Proposals by result",
        "Proposals per second: committed, rejected (refused by the leader) or failed (lost or timed out).",
        "ops",
        [q(`sum by (result) (${rate("raftkv_proposals_total")})`, "{{result}}")],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Proposal to commit",
        "From proposing an entry to applying it on the leader.",
        "s",
        quantiles("raftkv_proposal_commit_seconds", []),
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Apply",
        "Applying one batch of committed entries, per pod.",
        "s",
        quantiles("raftkv_apply_seconds", ["pod"]),
        { min: 0 },
      ),
    )
    .withPanel(
      series("Fsync", "One synced write of Raft state, per pod.", "s", quantiles("raftkv_fsync_seconds", ["pod"]), {
        min: 0,
      }),
    )
    .withPanel(
      series(
        "Raft RPC latency (append, p99)",
        "Round trip of Raft append requests, per sender and peer.",
        "s",
        [
          q(
            `histogram_quantile(0.99, sum by (pod, peer, le) (${rate("raftkv_raft_rpc_seconds_bucket", 'endpoint="append"')}))`,
            "{{pod}} → {{peer}}",
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Raft RPC failures and drops",
        "Failed Raft requests and dropped messages per second, per sender and peer.",
        "ops",
        [
          q(`sum by (pod, peer) (${rate("raftkv_raft_rpc_failures_total")})`, "failed {{pod}} → {{peer}}"),
          q(`sum by (pod, peer) (${rate("raftkv_raft_messages_dropped_total")})`, "dropped {{pod}} → {{peer}}"),
        ],
        { min: 0 },
      ),
    );

  b.withRow(new RowBuilder("Snapshots and storage"))
    .withPanel(
      series(
        "Snapshots",
        "Snapshots per minute: local (log compacted behind the synced store), created (full, for a follower), restored (from the leader).",
        "none",
        [q(`sum by (pod, kind) (${rate("raftkv_snapshots_total")}) * 60`, "{{kind}} {{pod}}")],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Snapshot duration (p99)",
        "Time to create or restore a snapshot.",
        "s",
        [q(`histogram_quantile(0.99, sum by (kind, le) (${rate("raftkv_snapshot_seconds_bucket")}))`, "{{kind}}")],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Disk",
        "Free bytes in STATE_DIR per pod; the red series are 1 while writes are refused (disk low) or the store is suspended.",
        "bytes",
        [
          q(`raftkv_disk_free_bytes${sel()}`, "free {{pod}}"),
          q(`raftkv_disk_low${sel()} > 0`, "disk low {{pod}}"),
          q(`raftkv_storage_suspended${sel()} > 0`, "suspended {{pod}}"),
        ],
        { min: 0 },
      ),
    );

  b.withRow(new RowBuilder("Client API"))
    .withPanel(
      series(
        "HTTP requests",
        "Client API requests per second, by route and status code.",
        "reqps",
        [q(`sum by (route, code) (${rate("raftkv_http_requests_total")})`, "{{route}} {{code}}")],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "HTTP errors and forwarded share",
        "Share of requests answered 5xx or 4xx, and share forwarded from a follower to the leader.",
        "percentunit",
        [
          q(
            `sum(${rate("raftkv_http_requests_total", 'code=~"5.."')}) / sum(${rate("raftkv_http_requests_total")})`,
            "5xx",
          ),
          q(
            `sum(${rate("raftkv_http_requests_total", 'code=~"4.."')}) / sum(${rate("raftkv_http_requests_total")})`,
            "4xx",
          ),
          q(
            `sum(${rate("raftkv_http_requests_total", 'forwarded="true"')}) / sum(${rate("raftkv_http_requests_total")})`,
            "forwarded",
          ),
        ],
        { min: 0, max: 1 },
      ),
    )
    .withPanel(
      series(
        "HTTP latency",
        "Client API request duration by route.",
        "s",
        quantiles("raftkv_http_request_seconds", ["route"]),
        { min: 0 },
      ),
    );

  b.withRow(new RowBuilder("Process"))
    .withPanel(
      series("CPU", "CPU seconds per second, per pod.", "percentunit", [
        q(`${rate("process_cpu_seconds_total")}`, "{{pod}}"),
      ]),
    )
    .withPanel(
      series("Memory", "Resident memory and V8 heap used, per pod.", "bytes", [
        q(`process_resident_memory_bytes${sel()}`, "rss {{pod}}"),
        q(`nodejs_heap_size_used_bytes${sel()}`, "heap {{pod}}"),
      ]),
    )
    .withPanel(
      series("Event loop lag (p99)", "A blocked event loop delays heartbeats and elections.", "s", [
        q(`nodejs_eventloop_lag_p99_seconds${sel()}`, "{{pod}}"),
      ]),
    );

  b.withRow(new RowBuilder("Operator"))
    .withPanel(
      series(
        "Reconciles",
        "Reconcile passes per second by result, and passes that failed with an error.",
        "ops",
        [
          q("sum by (result) (rate(raftkv_operator_reconcile_total[$__rate_interval]))", "{{result}}"),
          q("sum(rate(raftkv_operator_reconcile_errors_total[$__rate_interval]))", "errors"),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Reconcile duration",
        "Duration of one reconcile pass.",
        "s",
        [0.5, 0.99].map((p) =>
          q(
            `histogram_quantile(${p}, sum by (le) (rate(raftkv_operator_reconcile_seconds_bucket[$__rate_interval])))`,
            `p${p * 100}`,
          ),
        ),
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Membership operations",
        "Raft membership calls per minute, by operation and result.",
        "none",
        [
          q(
            "sum by (operation, result) (rate(raftkv_operator_membership_operations_total[$__rate_interval])) * 60",
            "{{operation}} {{result}}",
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      series(
        "Operator leader and queue",
        "1 on the operator replica holding the Lease; keys waiting in its work queue.",
        "none",
        [
          q("raftkv_operator_is_leader", "leader {{pod}}"),
          q("raftkv_operator_queue_depth", "queue {{pod}}"),
          q(
            "sum by (resource) (increase(raftkv_operator_informer_restarts_total[$__rate_interval]))",
            "informer restarts {{resource}}",
          ),
        ],
        { span: 24, min: 0 },
      ),
    );

  return b.build();
}

/** The dashboard as the committed file holds it: 2-space JSON and a final newline. */
export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
