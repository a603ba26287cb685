/**
 * Names, labels, ports and DNS addresses of a RaftKV's children: the one place that knows how the
 * operator names what it creates, so render, reconcile and the member client agree.
 */

import { createHash } from "node:crypto";
import type { PodAddressing } from "../members/pod-addressing.ts";
import { API_VERSION, KIND, type RaftKV } from "../raftkv.ts";

/** Port of the node's client API (also /status, /readyz, /livez, /metrics and the admin routes). */
export const CLIENT_PORT = 11000;
/** Name of the client port on the container and both Services. */
export const CLIENT_PORT_NAME = "client";
/** Port of Raft traffic between nodes. */
export const RAFT_PORT = 12000;
/** Name of the Raft port on the container and the peer Service. */
export const RAFT_PORT_NAME = "raft";
/** Key of the Raft secret in the Secret. */
export const SECRET_KEY = "secret";
/** Key of the bootstrap expectation in the bootstrap ConfigMap. */
export const BOOTSTRAP_EXPECT_KEY = "BOOTSTRAP_EXPECT";
/** Name of the data volume (and of the StatefulSet's volume claim template). */
export const DATA_VOLUME = "data";
/** Label on the two Services telling them apart (both carry the selector labels). */
export const SERVICE_ROLE_LABEL = "raftkv.io/service";

/** Longest RaftKV name: a StatefulSet's pods carry `controller-revision-hash: <name>-<10 chars>`, a 63-char label. */
export const MAX_NAME_LENGTH = 52;
// Services need DNS-1035 labels (start with a letter); the rest of the names follow from it.
const NAME_RULE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const CLUSTER_ID_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Why a RaftKV name cannot name its children, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length > MAX_NAME_LENGTH) {
    return `name "${name}" is longer than ${MAX_NAME_LENGTH} characters (StatefulSet pods could not be labelled)`;
  }
  if (!NAME_RULE.test(name)) {
    return `name "${name}" must start with a lowercase letter and hold only lowercase letters, digits and '-' (it names Services)`;
  }
  return undefined;
}

/** Name of the StatefulSet. */
export function statefulSetName(rkv: RaftKV): string {
  return rkv.metadata.name;
}

/** Name of the headless Service the peers find each other through. */
export function peerServiceName(rkv: RaftKV): string {
  return `${rkv.metadata.name}-peers`;
}

/** Name of the client Service. */
export function clientServiceName(rkv: RaftKV): string {
  return rkv.metadata.name;
}

/** Name of the Secret holding the Raft secret (key `secret`). */
export function secretName(rkv: RaftKV): string {
  return `${rkv.metadata.name}-raft`;
}

/** Name of the ConfigMap holding BOOTSTRAP_EXPECT. */
export function bootstrapConfigName(rkv: RaftKV): string {
  return `${rkv.metadata.name}-bootstrap`;
}

/** Name of the PodDisruptionBudget. */
export function pdbName(rkv: RaftKV): string {
  return rkv.metadata.name;
}

/** Name of the ServiceMonitor. */
export function serviceMonitorName(rkv: RaftKV): string {
  return rkv.metadata.name;
}

/** Name of the pod with `ordinal`. */
export function podName(rkv: RaftKV, ordinal: number): string {
  return `${rkv.metadata.name}-${ordinal}`;
}

/** Name of the data claim of the pod with `ordinal`: the StatefulSet's `data-<sts>-<ordinal>`. */
export function claimName(rkv: RaftKV, ordinal: number): string {
  return `${DATA_VOLUME}-${statefulSetName(rkv)}-${ordinal}`;
}

/** Labels that select the pods of a RaftKV (immutable: the StatefulSet's selector). */
export function selectorLabels(rkv: RaftKV): Record<string, string> {
  return {
    "app.kubernetes.io/name": "raftkv",
    "app.kubernetes.io/instance": rkv.metadata.name,
    "app.kubernetes.io/component": "node",
  };
}

/** Labels on every object the operator creates for a RaftKV: the selector labels plus managed-by. */
export function commonLabels(rkv: RaftKV): Record<string, string> {
  return { ...selectorLabels(rkv), "app.kubernetes.io/managed-by": "raftkv-operator" };
}

/** The selector as a label-selector string (`k=v,k=v`), for status.selector and list calls. */
export function selectorString(rkv: RaftKV): string {
  return Object.entries(selectorLabels(rkv))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The owner reference every child carries: the RaftKV controls it, so deleting the RaftKV removes it. */
export function ownerReference(rkv: RaftKV) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: rkv.metadata.name,
    uid: rkv.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** DNS name of the peer Service: `<name>-peers.<ns>.svc.<domain>`. */
export function peerServiceHost(namespace: string, raftkv: string, clusterDomain: string): string {
  return `${raftkv}-peers.${namespace}.svc.${clusterDomain}`;
}

/**
 * The cluster id every node of a RaftKV sends and checks (CLUSTER_ID): `<namespace>.<name>`, which fits
 * the node's rule (1-128 of [A-Za-z0-9._-], alphanumeric first). Should a longer pair ever occur it is cut
 * and suffixed with a hash of the whole, so it stays unique and valid.
 */
export function clusterId(namespace: string, name: string): string {
  const full = `${namespace}.${name}`;
  if (CLUSTER_ID_RULE.test(full)) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 16);
  const head = full.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 128 - hash.length - 1);
  return `${/^[A-Za-z0-9]/.test(head) ? head : `x${head.slice(1)}`}-${hash}`;
}

/** Addressing of member pods by their stable DNS names under the peer Service. */
export function dnsAddressing(clusterDomain: string): PodAddressing {
  return ({ namespace, raftkv, pod }) => {
    const host = `${pod}.${peerServiceHost(namespace, raftkv, clusterDomain)}`;
    return { raftAddr: `${host}:${RAFT_PORT}`, httpUrl: `http://${host}:${CLIENT_PORT}` };
  };
}
