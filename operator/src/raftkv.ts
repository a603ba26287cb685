/**
 * The RaftKV custom resource as TypeScript types: what crds/raftkv.yaml defines. The API server applies
 * the schema's defaults, so a RaftKV read from it has every defaulted field set; `image` alone may be
 * absent (the operator's NODE_IMAGE fills it in).
 */

/** API group of the resource. */
export const GROUP = "raftkv.io";
/** Served and stored version. */
export const VERSION = "v1alpha1";
/** Plural resource name. */
export const PLURAL = "raftkvs";
/** Kind. */
export const KIND = "RaftKV";
/** apiVersion string. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A plain JSON object of a Kubernetes type the operator passes through untouched (affinity, resources...). */
export type KubeObject = Record<string, unknown>;

/** spec of a RaftKV, with the CRD's defaults applied. */
export interface RaftKVSpec {
  /** Raft members wanted (1-9). */
  replicas: number;
  /** Node image; absent means the operator's default. */
  image?: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** Immutable. */
  kvStore: "leveldb" | "memory";
  storage: { size: string | number; storageClassName?: string };
  resources?: KubeObject;
  nodeSelector?: Record<string, string>;
  tolerations?: KubeObject[];
  /** Absent: soft anti-affinity across nodes. */
  affinity?: KubeObject;
  topologySpreadConstraints?: KubeObject[];
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  priorityClassName?: string;
  podDisruptionBudget: { enabled: boolean };
  metrics: { serviceMonitor: { enabled: boolean; labels?: Record<string, string>; interval?: string } };
  /** While true the operator changes nothing but status. */
  paused: boolean;
}

/** One entry of status.conditions (metav1.Condition). */
export interface Condition {
  type: "Available" | "Progressing" | "Degraded";
  status: "True" | "False" | "Unknown";
  /** CamelCase, e.g. ScalingUp, QuorumLost. */
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration: number;
}

/** One Raft member as status reports it. */
export interface MemberStatus {
  /** Raft id (= pod name). */
  id: string;
  pod: string;
  role: "leader" | "follower" | "learner";
  healthy: boolean;
  /** RFC 3339 time the member last heard from a leader (now for the leader), if known. */
  lastContact?: string;
  /** Highest log index the leader knows the member holds. */
  matchIndex?: number;
  /** Leader's commit index minus matchIndex. */
  lag?: number;
}

/** status of a RaftKV. */
export interface RaftKVStatus {
  observedGeneration?: number;
  /** Pods the StatefulSet has (for /scale). */
  replicas?: number;
  readyReplicas?: number;
  /** Label selector of the pods, as a string (for /scale). */
  selector?: string;
  leader?: string;
  term?: number;
  commitIndex?: number;
  /** Voters needed for a majority. */
  quorum?: number;
  /** Healthy voters beyond a quorum: how many more may fail. */
  failureTolerance?: number;
  members?: MemberStatus[];
  conditions?: Condition[];
}

/** A RaftKV object. */
export interface RaftKV {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: RaftKVSpec;
  status?: RaftKVStatus;
}
