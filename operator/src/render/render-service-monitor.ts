/** The Prometheus Operator ServiceMonitor that scrapes every node's /metrics through the client Service. */

import type { RaftKV } from "../raftkv.ts";
import { childMetadata, type Manifest } from "./manifest.ts";
import { CLIENT_PORT_NAME, SERVICE_ROLE_LABEL, selectorLabels, serviceMonitorName } from "./names.ts";
import { CLIENT_SERVICE_ROLE } from "./render-services.ts";

/**
 * The ServiceMonitor of `rkv`, or undefined unless it is requested and the cluster has the
 * ServiceMonitor CRD (`crdPresent`).
 */
export function renderServiceMonitor(rkv: RaftKV, crdPresent: boolean): Manifest | undefined {
  const sm = rkv.spec.metrics.serviceMonitor;
  if (!sm.enabled || !crdPresent) return undefined;
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: childMetadata(rkv, serviceMonitorName(rkv), sm.labels ?? {}),
    spec: {
      // Only the client Service: the peer Service selects the same pods and would scrape each twice.
      selector: { matchLabels: { ...selectorLabels(rkv), [SERVICE_ROLE_LABEL]: CLIENT_SERVICE_ROLE } },
      endpoints: [
        {
          port: CLIENT_PORT_NAME,
          path: "/metrics",
          ...(sm.interval ? { interval: sm.interval } : {}),
          // The dashboard and alerts group series by `raftkv` (the RaftKV's name) besides namespace and pod.
          relabelings: [
            {
              sourceLabels: ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
              targetLabel: "raftkv",
              action: "replace",
            },
          ],
        },
      ],
    },
  };
}
