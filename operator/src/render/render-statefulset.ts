/**
 * The StatefulSet of a RaftKV. Its pod template depends on nothing that changes with the replica count
 * (BOOTSTRAP_EXPECT comes from a ConfigMap), so scaling never rolls pods; updates are OnDelete because
 * the operator rolls pods itself, followers first and the leader last.
 */

import type {
  V1Affinity,
  V1EnvVar,
  V1PersistentVolumeClaim,
  V1PodSpec,
  V1Probe,
  V1ResourceRequirements,
  V1StatefulSet,
  V1Toleration,
  V1TopologySpreadConstraint,
  V1Volume,
} from "@kubernetes/client-node";
import type { KubeObject, RaftKV } from "../raftkv.ts";
import { asManifest, childMetadata, type Manifest, sortedMap } from "./manifest.ts";
import {
  BOOTSTRAP_EXPECT_KEY,
  bootstrapConfigName,
  CLIENT_PORT,
  CLIENT_PORT_NAME,
  clusterId,
  commonLabels,
  DATA_VOLUME,
  peerServiceHost,
  peerServiceName,
  RAFT_PORT,
  RAFT_PORT_NAME,
  SECRET_KEY,
  secretName,
  selectorLabels,
  statefulSetName,
} from "./names.ts";

/** What the StatefulSet needs besides the RaftKV. */
export interface StatefulSetInputs {
  /** StatefulSet replicas, chosen by the planner (not spec.replicas: members change one at a time). */
  replicas: number;
  image: string;
  clusterDomain: string;
  /** Size of the claim template; defaults to spec.storage.size (see RenderContext.claimTemplateSize). */
  claimTemplateSize?: string;
}

/** Numeric user and group of the node process (the image's USER; numeric so runAsNonRoot can verify it). */
export const NODE_UID = 10001;
/** Where the node keeps its state (STATE_DIR). */
export const DATA_DIR = "/data";
/** Seconds the pod keeps serving after it is marked for deletion, so endpoints drop it before SIGTERM. */
export const PRE_STOP_SLEEP_SECONDS = 5;
/** Room for the pre-stop sleep plus the node's leadership hand-over on SIGTERM (within 10 s) and a clean close. */
export const TERMINATION_GRACE_SECONDS = 30;
const CONTAINER = "raftkv";

/** The StatefulSet of `rkv`. */
export function renderStatefulSet(rkv: RaftKV, inp: StatefulSetInputs): Manifest {
  const { spec } = rkv;
  const leveldb = spec.kvStore === "leveldb";
  const sts: V1StatefulSet = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: childMetadata(rkv, statefulSetName(rkv)),
    spec: {
      replicas: inp.replicas,
      // Parallel: a restarted majority must come back together, not one ordinal at a time.
      podManagementPolicy: "Parallel",
      serviceName: peerServiceName(rkv),
      selector: { matchLabels: selectorLabels(rkv) },
      updateStrategy: { type: "OnDelete" },
      // Claims outlive a deleted RaftKV (recreating it finds its data); a removed member's claim goes.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Delete" },
      template: {
        metadata: {
          labels: sortedMap({ ...(spec.podLabels ?? {}), ...commonLabels(rkv) }),
          ...(spec.podAnnotations && Object.keys(spec.podAnnotations).length > 0
            ? { annotations: sortedMap(spec.podAnnotations) }
            : {}),
        },
        spec: podSpec(rkv, inp),
      },
      ...(leveldb ? { volumeClaimTemplates: [claimTemplate(rkv, inp)] } : {}),
    },
  };
  return asManifest(sts);
}

function podSpec(rkv: RaftKV, inp: StatefulSetInputs): V1PodSpec {
  const { spec } = rkv;
  const volumes: V1Volume[] = [{ name: "tmp", emptyDir: {} }];
  // The memory store keeps nothing worth a volume; STATE_DIR still needs a writable directory.
  if (spec.kvStore === "memory") volumes.push({ name: DATA_VOLUME, emptyDir: {} });
  const pod: V1PodSpec = {
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NODE_UID,
      runAsGroup: NODE_UID,
      fsGroup: NODE_UID,
      fsGroupChangePolicy: "OnRootMismatch",
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: CONTAINER,
        image: inp.image,
        imagePullPolicy: spec.imagePullPolicy,
        ports: [
          { name: CLIENT_PORT_NAME, containerPort: CLIENT_PORT, protocol: "TCP" },
          { name: RAFT_PORT_NAME, containerPort: RAFT_PORT, protocol: "TCP" },
        ],
        env: env(rkv, inp),
        // Generous: opening and checking a large LevelDB, or waiting for disk space, may take minutes.
        startupProbe: probe("/livez", { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 120 }),
        readinessProbe: probe("/readyz", { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 }),
        // /livez never depends on a leader: losing quorum must not restart every pod.
        livenessProbe: probe("/livez", { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 }),
        lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } },
        ...(spec.resources ? { resources: clone(spec.resources) as V1ResourceRequirements } : {}),
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [
          { name: DATA_VOLUME, mountPath: DATA_DIR },
          { name: "tmp", mountPath: "/tmp" },
        ],
      },
    ],
    volumes,
    affinity: (spec.affinity ? clone(spec.affinity) : defaultAffinity(rkv)) as V1Affinity,
  };
  if (spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0) pod.nodeSelector = sortedMap(spec.nodeSelector);
  if (spec.tolerations && spec.tolerations.length > 0) pod.tolerations = clone(spec.tolerations) as V1Toleration[];
  if (spec.topologySpreadConstraints && spec.topologySpreadConstraints.length > 0) {
    pod.topologySpreadConstraints = spec.topologySpreadConstraints.map((c) => ({
      ...clone(c),
      ...(c.labelSelector ? {} : { labelSelector: { matchLabels: selectorLabels(rkv) } }),
    })) as V1TopologySpreadConstraint[];
  }
  if (spec.priorityClassName) pod.priorityClassName = spec.priorityClassName;
  return pod;
}

/** The node's environment; POD_NAME and POD_NAMESPACE come first so later values can expand them. */
function env(rkv: RaftKV, inp: StatefulSetInputs): V1EnvVar[] {
  const { name, namespace } = rkv.metadata;
  const field = (fieldPath: string): V1EnvVar["valueFrom"] => ({ fieldRef: { apiVersion: "v1", fieldPath } });
  // The pod's own name under the peer Service, from the pod's own fields: the template stays the same for every pod.
  const selfHost = `$(POD_NAME).${peerServiceName(rkv)}.$(POD_NAMESPACE).svc.${inp.clusterDomain}`;
  return [
    { name: "POD_NAME", valueFrom: field("metadata.name") },
    { name: "POD_NAMESPACE", valueFrom: field("metadata.namespace") },
    { name: "NODE_ID", valueFrom: field("metadata.name") },
    { name: "STATE_DIR", value: DATA_DIR },
    { name: "KV_STORE", value: rkv.spec.kvStore },
    { name: "HTTP_PORT", value: String(CLIENT_PORT) },
    { name: "RAFT_PORT", value: String(RAFT_PORT) },
    { name: "RAFT_ADVERTISE_ADDR", value: selfHost },
    { name: "HTTP_ADVERTISE_ADDR", value: selfHost },
    { name: "CLUSTER_ID", value: clusterId(namespace, name) },
    { name: "RAFT_SECRET", valueFrom: { secretKeyRef: { name: secretName(rkv), key: SECRET_KEY } } },
    { name: "DISCOVERY", value: "dns" },
    { name: "DISCOVERY_SERVICE", value: peerServiceHost(namespace, name, inp.clusterDomain) },
    // From the ConfigMap fixed at creation, never from spec.replicas: a replica change must not roll pods.
    {
      name: "BOOTSTRAP_EXPECT",
      valueFrom: { configMapKeyRef: { name: bootstrapConfigName(rkv), key: BOOTSTRAP_EXPECT_KEY } },
    },
    // The node never joins or promotes itself: the operator adds it as a learner and promotes it.
    { name: "MEMBERSHIP", value: "operator" },
  ];
}

function probe(path: string, timing: Pick<V1Probe, "periodSeconds" | "timeoutSeconds" | "failureThreshold">): V1Probe {
  return { httpGet: { path, port: CLIENT_PORT_NAME, scheme: "HTTP" }, ...timing };
}

/** Soft anti-affinity: members on different nodes when the scheduler can manage it. */
function defaultAffinity(rkv: RaftKV): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            labelSelector: { matchLabels: selectorLabels(rkv) },
            topologyKey: "kubernetes.io/hostname",
          },
        },
      ],
    },
  };
}

function claimTemplate(rkv: RaftKV, inp: StatefulSetInputs): V1PersistentVolumeClaim {
  const { storage } = rkv.spec;
  return {
    // The claims carry the common labels: the reconciler lists them by the selector.
    metadata: { name: DATA_VOLUME, labels: commonLabels(rkv) },
    spec: {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: String(inp.claimTemplateSize ?? storage.size) } },
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
    },
  };
}

/** A deep copy of a pass-through object, so nothing downstream can alias or mutate the RaftKV. */
function clone<T extends KubeObject | KubeObject[]>(v: T): T {
  return structuredClone(v);
}
