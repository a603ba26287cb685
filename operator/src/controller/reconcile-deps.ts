/**
 * What a reconcile pass works with: the Kubernetes clients, configuration, logging, Events, metrics, and
 * the one way to reach the nodes (member client + pod addressing).
 */

import type { OperatorConfig } from "../config.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { KubeClients } from "../kube/kube-clients.ts";
import type { Logger } from "../log.ts";
import type { MemberClient } from "../members/member-client.ts";
import type { PodAddressing } from "../members/pod-addressing.ts";
import type { OperatorMetrics } from "../metrics.ts";
import type { RaftKV } from "../raftkv.ts";
import { selectorLabels } from "../render/names.ts";

/** What a pass needs. */
export interface ReconcileDeps {
  clients: KubeClients;
  config: OperatorConfig;
  logger: Logger;
  events: EventRecorder;
  metrics: OperatorMetrics;
  members: MemberClient;
  addressing: PodAddressing;
}

/** The label selector of a RaftKV's pods and claims, as the API takes it. */
export function labelSelectorOf(rkv: RaftKV): string {
  return Object.entries(selectorLabels(rkv))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
