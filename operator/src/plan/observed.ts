/**
 * What one reconcile pass sees of a cluster: the StatefulSet, its pods and claims, and what each pod's
 * node answered at GET /status. The membership planner and the status builder are pure functions of it.
 */

/** The subset of a node's GET /status the operator uses (the node's HTTP contract, node/src/api/openapi.json). */
export interface NodeStatus {
  /** Raft id: the pod name. */
  id: string;
  /** Random id of this node's storage; a new one means a wiped disk. */
  incarnation: string;
  state: "follower" | "preCandidate" | "candidate" | "leader";
  term: number;
  leader: { id: string } | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  /** The configuration this node holds; `match` is set only in the leader's answer. */
  members: { id: string; role: "voter" | "learner"; incarnation: string; match?: number }[];
  /** Milliseconds since this node last heard from a leader (0 on the leader), or null. */
  lastContactMs: number | null;
}

/** A node's answer, or why there was none. */
export type NodeAnswer = { ok: true; status: NodeStatus } | { ok: false; error: string };

/** One pod of the StatefulSet. */
export interface ObservedPod {
  /** `<statefulset>-<ordinal>`, also the Raft id. */
  name: string;
  ordinal: number;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  /** The pod's Ready condition. */
  ready: boolean;
  /** deletionTimestamp is set. */
  deleting: boolean;
  /** controller-revision-hash label: which StatefulSet revision the pod runs. */
  revision: string;
  /** Why a container cannot start or keeps failing (ImagePullBackOff, CrashLoopBackOff, ...), if it does. */
  startFailure?: { reason: string; message: string };
}

/** The StatefulSet as observed. */
export interface ObservedStatefulSet {
  replicas: number;
  readyReplicas: number;
  /** status.updateRevision: the revision of the current pod template. */
  updateRevision: string;
}

/** One PersistentVolumeClaim of the StatefulSet's `data` template. */
export interface ObservedClaim {
  name: string;
  ordinal: number;
  deleting: boolean;
}

/** Everything one pass observed of one RaftKV. */
export interface Observed {
  /** Desired members (spec.replicas). */
  desiredReplicas: number;
  paused: boolean;
  /** undefined until the StatefulSet exists. */
  statefulSet: ObservedStatefulSet | undefined;
  /** Pods by ordinal order. */
  pods: ObservedPod[];
  /** Claims of the data template (always empty for kvStore memory). */
  claims: ObservedClaim[];
  /** GET /status of each pod that was asked, by pod name. */
  nodes: Record<string, NodeAnswer>;
}
