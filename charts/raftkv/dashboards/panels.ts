/**
 * Panel and query helpers for the raftkv dashboard (dashboard.ts): the RaftKV selector, rates, quantiles,
 * and the two panel kinds it uses, all pointing at the `$datasource` variable.
 */

import * as common from "@grafana/grafana-foundation-sdk/common";
import { ThresholdsConfigBuilder, ThresholdsMode } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesBuilder } from "@grafana/grafana-foundation-sdk/timeseries";

/** The data source of every panel and variable: the `datasource` template variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
export const DS = { type: "prometheus", uid: "${datasource}" };

/** The label matchers selecting one RaftKV's node series, plus `extra` matchers. */
export function sel(extra = ""): string {
  return `{namespace="$namespace", raftkv="$cluster"${extra ? `, ${extra}` : ""}}`;
}

/** `rate(metric{selector}[$__rate_interval])`. */
export function rate(metric: string, extra = ""): string {
  return `rate(${metric}${sel(extra)}[$__rate_interval])`;
}

/** A Prometheus query with its legend. */
export interface Query {
  expr: string;
  legend: string;
}

/** A query with its legend. */
export function q(expr: string, legend: string): Query {
  return { expr, legend };
}

/** p50 and p99 of a histogram, summed over `by` (plus `le`). */
export function quantiles(metric: string, by: string[], legendPrefix = "", extra = ""): Query[] {
  const keys = [...by, "le"].join(", ");
  const suffix = by.map((b) => ` {{${b}}}`).join("");
  return [0.5, 0.99].map((p) =>
    q(
      `histogram_quantile(${p}, sum by (${keys}) (${rate(`${metric}_bucket`, extra)}))`,
      `${legendPrefix}p${p * 100}${suffix}`,
    ),
  );
}

/** Prometheus targets with refIds A, B, ... */
function targets(queries: Query[]): DataqueryBuilder[] {
  return queries.map((x, i) =>
    new DataqueryBuilder()
      .expr(x.expr)
      .legendFormat(x.legend)
      .refId(String.fromCharCode(65 + i))
      .datasource(DS),
  );
}

/** A time series panel. */
export function series(
  title: string,
  description: string,
  unit: string,
  queries: Query[],
  o: { span?: number; min?: number; max?: number; stepped?: boolean } = {},
): TimeseriesBuilder {
  const p = new TimeseriesBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .span(o.span ?? 8)
    .height(8)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.None))
    .targets(targets(queries));
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.stepped) p.lineInterpolation(common.LineInterpolation.StepAfter);
  return p;
}

/** A single-value panel; `red` is the value from which it turns red (green below). */
export function stat(title: string, description: string, unit: string, queries: Query[], red?: number): StatBuilder {
  const p = new StatBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .span(4)
    .height(4)
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.ValueAndName)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .targets(targets(queries));
  if (red !== undefined) {
    p.thresholds(
      new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
        { value: null, color: "green" },
        { value: red, color: "red" },
      ]),
    );
  }
  return p;
}
