import assert from "node:assert/strict";
import { test } from "node:test";
import { SERVICE_ROLE_LABEL, selectorLabels } from "../../../operator/src/render/names.ts";
import { renderServiceMonitor } from "../../../operator/src/render/render-service-monitor.ts";
import { renderClientService, renderPeerService } from "../../../operator/src/render/render-services.ts";
import { raftkv } from "./fixtures.ts";

const withMonitor = (enabled: boolean, extra: { labels?: Record<string, string>; interval?: string } = {}) =>
  raftkv({ metrics: { serviceMonitor: { enabled, interval: "30s", ...extra } } }, { name: "demo", namespace: "prod" });

/** Whether matchLabels selects an object with `labels`. */
const selects = (match: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(match).every(([k, v]) => labels[k] === v);

test("a ServiceMonitor only when requested and the CRD is present", () => {
  assert.equal(renderServiceMonitor(withMonitor(false), false), undefined);
  assert.equal(renderServiceMonitor(withMonitor(false), true), undefined);
  assert.equal(renderServiceMonitor(withMonitor(true), false), undefined);
  assert.notEqual(renderServiceMonitor(withMonitor(true), true), undefined);
});

test("it scrapes /metrics on port client of the client Service only", () => {
  const r = withMonitor(true, { interval: "15s", labels: { release: "prom", "app.kubernetes.io/name": "evil" } });
  const sm = renderServiceMonitor(r, true);
  assert.ok(sm);
  assert.equal(sm.apiVersion, "monitoring.coreos.com/v1");
  assert.equal(sm.kind, "ServiceMonitor");
  assert.equal(sm.metadata.name, "demo");
  assert.equal(sm.metadata.namespace, "prod");
  assert.equal(sm.metadata.labels.release, "prom");
  assert.equal(sm.metadata.labels["app.kubernetes.io/name"], "raftkv", "the operator's labels win");
  const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: unknown[] };
  assert.deepEqual(spec.endpoints, [
    {
      port: "client",
      path: "/metrics",
      interval: "15s",
      relabelings: [
        {
          sourceLabels: ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
          targetLabel: "raftkv",
          action: "replace",
        },
      ],
    },
  ]);
  const match = spec.selector.matchLabels;
  assert.ok(selects(selectorLabels(r), match), "narrower than the pod selector");
  assert.equal(match[SERVICE_ROLE_LABEL], "client");
  assert.equal(selects(match, renderClientService(r).metadata.labels), true);
  assert.equal(selects(match, renderPeerService(r).metadata.labels), false, "each pod scraped once");
});
