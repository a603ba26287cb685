/**
 * One reconcile pass of one RaftKV, level-triggered and idempotent:
 *   read the RaftKV -> make sure its Secret and bootstrap ConfigMap exist (created once, never rewritten)
 *   -> observe the StatefulSet, pods, claims and every pod's GET /status
 *   -> plan (pure: the one next safe membership step) -> render (pure) and server-side apply
 *   -> carry out at most one membership action -> write status only when it changed.
 * A pass with nothing to do writes nothing: server-side apply of an unchanged object keeps its
 * resourceVersion, and status is compared before it is written.
 */

import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import {
  ApiException,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Secret,
  type V1StatefulSet,
} from "@kubernetes/client-node";
import type { OperatorConfig } from "../config.ts";
import { KubeApiError, kubeCall, statusOf, toKubeApiError } from "../kube/api-error.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { KubeClients } from "../kube/kube-clients.ts";
import { apply, patchStatus } from "../kube/server-side-apply.ts";
import type { Logger } from "../log.ts";
import type { MemberClient } from "../members/member-client.ts";
import type { PodAddressing } from "../members/pod-addressing.ts";
import type { OperatorMetrics } from "../metrics.ts";
import { planMembership } from "../plan/membership-planner.ts";
import type { NodeAnswer, Observed } from "../plan/observed.ts";
import { buildStatus } from "../plan/status.ts";
import type { Action, Plan } from "../plan/step.ts";
import { GROUP, PLURAL, type RaftKV, type RaftKVStatus, VERSION } from "../raftkv.ts";
import { bootstrapConfigName, secretName, selectorLabels, selectorString } from "../render/names.ts";
import { render } from "../render/render.ts";
import { observeClaims, observePods, observeStatefulSet } from "./observe.ts";

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

/** A RaftKV's namespace and name. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

/** When to look again (the controller also resyncs periodically). */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How soon to look again while a step is under way. */
const BUSY_REQUEUE_MS = 1000;
/** How soon to look again while blocked (quorum lost, pods failing). */
const BLOCKED_REQUEUE_MS = 5000;
const SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com";
const SECRET_KEY = "secret";
const BOOTSTRAP_KEY = "BOOTSTRAP_EXPECT";

/** Reconciles RaftKVs: see the file comment. */
export class Reconciler {
  readonly #d: ReconcileDeps;

  /** A reconciler using `d`. */
  constructor(d: ReconcileDeps) {
    this.#d = d;
  }

  /** One pass for one RaftKV; throws only on failures worth a rate-limited retry. */
  async reconcile(key: ObjectKey): Promise<ReconcileResult> {
    const rkv = await this.#readRaftKV(key);
    if (!rkv || rkv.metadata.deletionTimestamp) return {}; // garbage collection removes the children
    const { namespace, name } = rkv.metadata;
    const log = this.#d.logger.child({ raftkv: `${namespace}/${name}` });

    const secret = await this.#ensureSecret(rkv);
    const bootstrapExpect = await this.#ensureBootstrapConfig(rkv);
    const { observed, claimTemplateSize } = await this.#observe(rkv);
    const plan = planMembership(observed);

    let applyError: string | undefined;
    if (!rkv.spec.paused) {
      applyError = await this.#applyChildren(rkv, plan, secret, bootstrapExpect, claimTemplateSize);
      if (!applyError) applyError = await this.#expandClaims(rkv, claimTemplateSize);
      if (applyError) log.warn("applying children failed", { err: applyError });
    }
    let actionError: string | undefined;
    if (!rkv.spec.paused && !applyError && plan.action.kind !== "none") {
      actionError = await this.#act(rkv, plan, observed, secret);
    }

    const status = buildStatus(observed, plan, rkv.status, {
      generation: rkv.metadata.generation,
      now: new Date().toISOString(),
      selector: selectorString(rkv),
      ...(applyError ? { applyError } : {}),
    });
    await this.#writeStatus(rkv, status);

    if (applyError || actionError) return { requeueAfterMs: BLOCKED_REQUEUE_MS };
    if (plan.phase === "Blocked") return { requeueAfterMs: BLOCKED_REQUEUE_MS };
    if (plan.phase === "Stable" || plan.phase === "Paused") return {};
    return { requeueAfterMs: BUSY_REQUEUE_MS };
  }

  async #readRaftKV(key: ObjectKey): Promise<RaftKV | undefined> {
    try {
      const obj = (await this.#d.clients.customObjects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: key.namespace,
        plural: PLURAL,
        name: key.name,
      })) as RaftKV;
      return obj;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** The cluster's Raft secret: read it, or create it once with a fresh random value. */
  async #ensureSecret(rkv: RaftKV): Promise<string> {
    const { namespace } = rkv.metadata;
    const name = secretName(rkv);
    const existing = await readOrUndefined(() => this.#d.clients.core.readNamespacedSecret({ name, namespace }));
    const value = secretValue(existing);
    if (value) return value;
    const fresh = randomBytes(32).toString("base64url");
    const obj = this.#rendered(rkv, fresh, 1).createOnce.find((o) => o.kind === "Secret") as V1Secret;
    if (existing) {
      // A Secret of ours without a usable value (edited by hand): give it one.
      await apply(this.#d.clients, obj);
    } else {
      await createIfAbsent(() => this.#d.clients.core.createNamespacedSecret({ namespace, body: obj }));
    }
    this.#d.events.record(rkv, "Normal", "SecretCreated", `created the cluster's Raft secret ${name}`);
    const again = await this.#d.clients.core.readNamespacedSecret({ name, namespace });
    const stored = secretValue(again);
    if (!stored) throw new Error(`secret ${namespace}/${name} has no "${SECRET_KEY}" key`);
    return stored;
  }

  /**
   * BOOTSTRAP_EXPECT, fixed when the cluster is first created: pods read it at start from this ConfigMap,
   * so the pod template never depends on spec.replicas and a replica change rolls nothing.
   */
  async #ensureBootstrapConfig(rkv: RaftKV): Promise<number> {
    const { namespace } = rkv.metadata;
    const name = bootstrapConfigName(rkv);
    const existing = await readOrUndefined(() => this.#d.clients.core.readNamespacedConfigMap({ name, namespace }));
    const n = Number(existing?.data?.[BOOTSTRAP_KEY]);
    if (Number.isInteger(n) && n >= 1) return n;
    // A cluster whose StatefulSet already exists keeps its size as the expectation; a new one uses spec.replicas.
    const sts = await readOrUndefined(() =>
      this.#d.clients.apps.readNamespacedStatefulSet({ name: rkv.metadata.name, namespace }),
    );
    const expect = sts?.spec?.replicas && sts.spec.replicas > 0 ? sts.spec.replicas : rkv.spec.replicas;
    const obj = this.#rendered(rkv, "", expect).createOnce.find((o) => o.kind === "ConfigMap") as V1ConfigMap;
    if (existing) await apply(this.#d.clients, obj);
    else await createIfAbsent(() => this.#d.clients.core.createNamespacedConfigMap({ namespace, body: obj }));
    return expect;
  }

  /** Rendered manifests for the created-once objects (the StatefulSet size does not matter for them). */
  #rendered(rkv: RaftKV, raftSecret: string, bootstrapExpect: number) {
    return render(rkv, {
      statefulSetReplicas: 0,
      raftSecret,
      bootstrapExpect,
      defaultImage: this.#d.config.nodeImage,
      clusterDomain: this.#d.config.clusterDomain,
      serviceMonitorCrd: false,
    });
  }

  async #observe(rkv: RaftKV): Promise<{ observed: Observed; claimTemplateSize?: string }> {
    const { namespace, name } = rkv.metadata;
    const { core, apps } = this.#d.clients;
    const labelSelector = labelSelectorOf(rkv);
    const [sts, podList, claimList] = await Promise.all([
      readOrUndefined<V1StatefulSet>(() => apps.readNamespacedStatefulSet({ name, namespace })),
      core.listNamespacedPod({ namespace, labelSelector }),
      core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
    ]);
    const ownedPods = podList.items.filter((p: V1Pod) => ownedBy(p, "StatefulSet", sts?.metadata?.uid));
    const pods = observePods(ownedPods, name);
    const claims = observeClaims(
      claimList.items.filter((c: V1PersistentVolumeClaim) => c.metadata?.name?.startsWith(`data-${name}-`)),
      name,
    );
    const nodes: Record<string, NodeAnswer> = {};
    await Promise.all(
      pods
        .filter((p) => !p.deleting && p.phase === "Running")
        .map(async (p) => {
          const { httpUrl } = this.#d.addressing({ namespace, raftkv: name, pod: p.name });
          nodes[p.name] = await this.#d.members.status(httpUrl);
        }),
    );
    const observed: Observed = {
      desiredReplicas: rkv.spec.replicas,
      paused: rkv.spec.paused,
      statefulSet: sts ? observeStatefulSet(sts) : undefined,
      pods,
      claims,
      nodes,
    };
    // A StatefulSet's claim template is immutable: keep the size it was created with (see #expandClaims).
    const size = sts?.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === "data")?.spec?.resources?.requests
      ?.storage;
    return size === undefined ? { observed } : { observed, claimTemplateSize: String(size) };
  }

  /**
   * A grown spec.storage.size cannot reach the StatefulSet's claim template (immutable), so the existing
   * claims are expanded in place; the storage class must allow expansion, or the API server says why.
   */
  async #expandClaims(rkv: RaftKV, templateSize: string | undefined): Promise<string | undefined> {
    if (rkv.spec.kvStore !== "leveldb" || templateSize === undefined) return undefined;
    const want = String(rkv.spec.storage.size);
    if (want === templateSize) return undefined;
    const { namespace, name } = rkv.metadata;
    const claims = await this.#d.clients.core.listNamespacedPersistentVolumeClaim({
      namespace,
      labelSelector: labelSelectorOf(rkv),
    });
    for (const c of claims.items) {
      const claim = c.metadata?.name ?? "";
      if (!claim.startsWith(`data-${name}-`) || c.metadata?.deletionTimestamp) continue;
      if (String(c.spec?.resources?.requests?.storage ?? "") === want) continue;
      try {
        await mergePatchClaimSize(this.#d.clients, namespace, claim, want);
      } catch (e) {
        return `expanding claim ${claim} to ${want}: ${messageOf(e)}`;
      }
    }
    return undefined;
  }

  /** Server-side applies every child; removes optional children that are switched off. Returns an error text. */
  async #applyChildren(
    rkv: RaftKV,
    plan: Plan,
    secret: string,
    bootstrapExpect: number,
    claimTemplateSize: string | undefined,
  ): Promise<string | undefined> {
    const smWanted = rkv.spec.metrics.serviceMonitor.enabled && (await this.#serviceMonitorCrdExists());
    const manifests = render(rkv, {
      statefulSetReplicas: plan.statefulSetReplicas,
      raftSecret: secret,
      bootstrapExpect,
      defaultImage: this.#d.config.nodeImage,
      clusterDomain: this.#d.config.clusterDomain,
      serviceMonitorCrd: smWanted,
      ...(claimTemplateSize !== undefined ? { claimTemplateSize } : {}),
    });
    const failures: string[] = [];
    for (const obj of manifests.applied) {
      try {
        await apply(this.#d.clients, obj);
      } catch (e) {
        failures.push(`${obj.kind} ${(obj.metadata as { name: string }).name}: ${messageOf(e)}`);
      }
    }
    const kinds = new Set(manifests.applied.map((o) => o.kind));
    const { namespace, name } = rkv.metadata;
    if (!kinds.has("PodDisruptionBudget")) {
      await this.#deleteOwned(
        rkv,
        () => this.#d.clients.policy.readNamespacedPodDisruptionBudget({ name, namespace }),
        () => this.#d.clients.policy.deleteNamespacedPodDisruptionBudget({ name, namespace }),
      ).catch((e) => failures.push(`PodDisruptionBudget ${name}: ${messageOf(e)}`));
    }
    if (!kinds.has("ServiceMonitor") && (await this.#serviceMonitorCrdExists())) {
      const ref = { group: "monitoring.coreos.com", version: "v1", namespace, plural: "servicemonitors", name };
      await this.#deleteOwned(
        rkv,
        () => this.#d.clients.customObjects.getNamespacedCustomObject(ref),
        () => this.#d.clients.customObjects.deleteNamespacedCustomObject(ref),
      ).catch((e) => failures.push(`ServiceMonitor ${name}: ${messageOf(e)}`));
    }
    return failures.length > 0 ? failures.join("; ") : undefined;
  }

  async #serviceMonitorCrdExists(): Promise<boolean> {
    const crd = await readOrUndefined(() =>
      this.#d.clients.apiextensions.readCustomResourceDefinition({ name: SERVICE_MONITOR_CRD }),
    ).catch(() => undefined); // no permission to read CRDs: treat as absent
    return crd !== undefined;
  }

  /** Deletes an object only when this RaftKV controls it. */
  async #deleteOwned(rkv: RaftKV, read: () => Promise<unknown>, del: () => Promise<unknown>): Promise<void> {
    const obj = (await readOrUndefined(read)) as {
      metadata?: { ownerReferences?: { uid?: string; controller?: boolean }[] };
    };
    if (!obj?.metadata?.ownerReferences?.some((r) => r.uid === rkv.metadata.uid && r.controller)) return;
    await del().catch((e) => {
      if (statusOf(e) !== 404) throw e;
    });
  }

  /** Carries out one action; records an Event and a metric either way. Returns an error text on failure. */
  async #act(rkv: RaftKV, plan: Plan, observed: Observed, secret: string): Promise<string | undefined> {
    const a = plan.action;
    const { namespace, name } = rkv.metadata;
    const addr = (pod: string) => this.#d.addressing({ namespace, raftkv: name, pod });
    // Admin calls go to the leader; a follower would forward them, but the leader saves a hop.
    const via = plan.leader ?? Object.keys(observed.nodes).find((p) => observed.nodes[p]?.ok);
    const leaderUrl = via ? addr(via).httpUrl : undefined;
    const log = this.#d.logger.child({ raftkv: `${namespace}/${name}`, action: a.kind });
    const m = this.#d.members;
    try {
      switch (a.kind) {
        case "none":
          return undefined;
        case "addLearner": {
          const { raftAddr, httpUrl } = addr(a.id);
          await m.addLearner(need(leaderUrl), secret, { id: a.id, raftAddr, httpUrl, incarnation: a.incarnation });
          break;
        }
        case "promote":
          await m.promote(need(leaderUrl), secret, a.id);
          break;
        case "removeMember":
          await m.remove(need(leaderUrl), secret, a.id);
          break;
        case "transferLeader":
          await m.transferLeader(addr(a.from).httpUrl, secret, a.to);
          break;
        case "deletePod":
          await this.#d.clients.core.deleteNamespacedPod({ name: a.pod, namespace });
          break;
        case "deleteClaim":
          await this.#d.clients.core.deleteNamespacedPersistentVolumeClaim({ name: a.claim, namespace });
          break;
      }
      this.#d.metrics.membershipOperations.inc({ operation: a.kind, result: "ok" });
      const [reason, note] = describeAction(a);
      log.info(note);
      this.#d.events.record(rkv, "Normal", reason, note);
      return undefined;
    } catch (e) {
      const msg = messageOf(e);
      this.#d.metrics.membershipOperations.inc({ operation: a.kind, result: "error" });
      log.warn("membership step failed", { err: msg });
      this.#d.events.record(rkv, "Warning", "MembershipStepFailed", `${describeAction(a)[1]} failed: ${msg}`);
      return msg;
    }
  }

  async #writeStatus(rkv: RaftKV, status: RaftKVStatus): Promise<void> {
    if (isDeepStrictEqual(normalize(status), normalize(rkv.status ?? {}))) return;
    const prevDegraded = rkv.status?.conditions?.find((c) => c.type === "Degraded");
    const degraded = status.conditions?.find((c) => c.type === "Degraded");
    if (degraded?.status === "True" && (prevDegraded?.status !== "True" || prevDegraded.reason !== degraded.reason)) {
      this.#d.events.record(rkv, "Warning", degraded.reason, degraded.message);
    }
    try {
      await patchStatus(this.#d.clients, rkv, status);
    } catch (e) {
      if (statusOf(e) === 404) return; // deleted meanwhile
      throw e;
    }
  }
}

/** Reason and sentence of an Event for a completed action. */
function describeAction(a: Action): [string, string] {
  switch (a.kind) {
    case "addLearner":
      return ["MemberAdded", `added ${a.id} as a learner (incarnation ${a.incarnation})`];
    case "promote":
      return ["MemberPromoted", `promoted ${a.id} to voter`];
    case "removeMember":
      return ["MemberRemoved", `removed ${a.id} from the Raft configuration`];
    case "transferLeader":
      return ["LeadershipTransferred", `asked ${a.from} to hand leadership to ${a.to}`];
    case "deletePod":
      return ["PodRestarted", `deleted pod ${a.pod} so it restarts on the new template`];
    case "deleteClaim":
      return ["ClaimDeleted", `deleted claim ${a.claim} of a removed member`];
    case "none":
      return ["None", "nothing"];
  }
}

function need(url: string | undefined): string {
  if (!url) throw new Error("no member answers: no leader to send the change to");
  return url;
}

function secretValue(s: V1Secret | undefined): string | undefined {
  const b64 = s?.data?.[SECRET_KEY];
  const v = b64 ? Buffer.from(b64, "base64").toString("utf8") : s?.stringData?.[SECRET_KEY];
  return v && v.length >= 16 ? v : undefined;
}

function ownedBy(
  obj: { metadata?: { ownerReferences?: { kind?: string; uid?: string }[] } },
  kind: string,
  uid?: string,
) {
  return uid !== undefined && obj.metadata?.ownerReferences?.some((r) => r.kind === kind && r.uid === uid) === true;
}

/** Status as the API server stores it (no undefined members), for comparison. */
function normalize(s: RaftKVStatus): unknown {
  return JSON.parse(JSON.stringify(s));
}

/** A short message for a failed call: the API server's own message when there is one. */
function messageOf(e: unknown): string {
  return e instanceof KubeApiError || e instanceof ApiException ? toKubeApiError("", e).apiMessage : String(e);
}

/** Sets a claim's requested size (a merge patch: only that field). */
async function mergePatchClaimSize(clients: KubeClients, namespace: string, name: string, size: string) {
  await kubeCall(`expand claim ${namespace}/${name}`, () =>
    clients.core.patchNamespacedPersistentVolumeClaim(
      { name, namespace, body: { spec: { resources: { requests: { storage: size } } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    ),
  );
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

async function createIfAbsent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (statusOf(e) !== 409) throw e; // another pass created it first
  }
}

function labelSelectorOf(rkv: RaftKV): string {
  return Object.entries(selectorLabels(rkv))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
