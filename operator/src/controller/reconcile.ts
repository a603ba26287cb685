/**
 * One reconcile pass of one RaftKV, level-triggered and idempotent:
 *   read the RaftKV -> make sure its Secret and bootstrap ConfigMap exist (created once, never rewritten)
 *   -> observe the StatefulSet, pods, claims and every pod's GET /status
 *   -> plan (pure: the one next safe membership step) -> render (pure) and server-side apply
 *   -> carry out at most one membership action -> write status only when it changed.
 * A pass with nothing to do writes nothing: server-side apply of an unchanged object keeps its
 * resourceVersion, and status is compared before it is written.
 */

import { isDeepStrictEqual } from "node:util";
import { messageOf, statusOf } from "../kube/api-error.ts";
import { patchStatus } from "../kube/server-side-apply.ts";
import { planMembership } from "../plan/membership-planner.ts";
import type { Observed } from "../plan/observed.ts";
import { buildStatus } from "../plan/status.ts";
import type { Action, Plan } from "../plan/step.ts";
import { GROUP, PLURAL, type RaftKV, type RaftKVStatus, VERSION } from "../raftkv.ts";
import { selectorString } from "../render/names.ts";
import { applyChildren, expandClaims } from "./apply-children.ts";
import { ensureBootstrapConfig, ensureSecret } from "./created-once.ts";
import { observeCluster } from "./observe-cluster.ts";
import type { ReconcileDeps } from "./reconcile-deps.ts";

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

    const { observed, claimTemplateSize } = await observeCluster(this.#d, rkv);
    const plan = planMembership(observed);

    // Paused: nothing but status changes, not even the created-once children.
    let applyError: string | undefined;
    let actionError: string | undefined;
    if (!rkv.spec.paused) {
      const secret = await ensureSecret(this.#d, rkv);
      const bootstrapExpect = await ensureBootstrapConfig(this.#d, rkv);
      applyError = await applyChildren(this.#d, rkv, plan, secret, bootstrapExpect, claimTemplateSize);
      if (!applyError) applyError = await expandClaims(this.#d, rkv, claimTemplateSize);
      if (applyError) log.warn("applying children failed", { err: applyError });
      else if (plan.action.kind !== "none") actionError = await this.#act(rkv, plan, observed, secret);
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

/** Status as the API server stores it (no undefined members), for comparison. */
function normalize(s: RaftKVStatus): unknown {
  return JSON.parse(JSON.stringify(s));
}
