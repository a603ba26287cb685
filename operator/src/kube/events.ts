/**
 * Kubernetes Events (events.k8s.io/v1) about a RaftKV, so `kubectl describe raftkv` tells what the
 * operator did and why. Writing an Event is best effort: a failure is logged, never thrown. The same
 * event about the same object is written at most once per `dedupeWindowMs` to keep retry loops quiet.
 */

import { V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import { API_VERSION, KIND } from "../raftkv.ts";
import { toKubeApiError } from "./api-error.ts";
import type { KubeClients } from "./kube-clients.ts";

/** The object an Event is about (a RaftKV unless apiVersion/kind say otherwise). */
export interface EventSubject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
}

/** Normal: something done as planned. Warning: something a person may need to look at. */
export type EventType = "Normal" | "Warning";

/** Records Events; never throws. */
export interface EventRecorder {
  /** Records `reason` (CamelCase, e.g. ScalingUp) with a human `note`; `action` defaults to the reason. */
  record(subject: EventSubject, type: EventType, reason: string, note: string, action?: string): Promise<void>;
}

/** The reportingController of every Event the operator writes. */
export const REPORTING_CONTROLLER = "raftkv.io/operator";

const CAMEL_CASE = /^[A-Z][A-Za-z0-9]{0,127}$/;

/** Options of a KubeEventRecorder. */
export interface KubeEventRecorderOptions {
  clients: KubeClients;
  /** This process's identity (reportingInstance). */
  identity: string;
  logger: Logger;
  /** Identical events within this window are written once (default 5 min; 0 turns it off). */
  dedupeWindowMs?: number;
  now?: () => number;
}

/** Writes Events through the API server. */
export class KubeEventRecorder implements EventRecorder {
  private readonly o: KubeEventRecorderOptions;
  private readonly recent = new Map<string, number>();
  private seq = 0;

  /** Makes a recorder. */
  constructor(o: KubeEventRecorderOptions) {
    this.o = o;
  }

  /** Writes one Event, or skips a duplicate; logs (never throws) when the API refuses it. */
  async record(subject: EventSubject, type: EventType, reason: string, note: string, action = reason): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    const { name, namespace, uid } = subject.metadata;
    const window = this.o.dedupeWindowMs ?? 300_000;
    const key = JSON.stringify([namespace, name, uid ?? "", type, reason, note]);
    const last = this.recent.get(key);
    if (window > 0 && last !== undefined && now - last < window) return;
    if (!CAMEL_CASE.test(reason)) this.o.logger.warn("event reason is not CamelCase", { reason });
    this.recent.set(key, now);
    this.prune(now, window);
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: `${name}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, "0")}`, namespace },
      eventTime: new V1MicroTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.o.identity.slice(0, 128),
      action: action.slice(0, 128),
      reason: reason.slice(0, 128),
      type,
      // The API limits note to 1 kB.
      note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
      regarding: {
        apiVersion: subject.apiVersion ?? API_VERSION,
        kind: subject.kind ?? KIND,
        name,
        namespace,
        ...(uid ? { uid } : {}),
        ...(subject.metadata.resourceVersion ? { resourceVersion: subject.metadata.resourceVersion } : {}),
      },
    };
    try {
      await this.o.clients.eventsV1.createNamespacedEvent({ namespace, body });
    } catch (e) {
      this.recent.delete(key);
      this.o.logger.warn("could not write event", {
        namespace,
        name,
        reason,
        error: toKubeApiError("create event", e),
      });
    }
  }

  /** Forgets entries older than the window so the map stays small. */
  private prune(now: number, window: number): void {
    if (this.recent.size < 1000) return;
    for (const [k, t] of this.recent) if (now - t >= window) this.recent.delete(k);
  }
}
