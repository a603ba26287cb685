/**
 * The operator's configuration from environment variables. An empty variable counts as unset, because
 * manifests often template optional values to "". Bad values throw a ConfigError naming the variable.
 */

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** Where a pod finds its own namespace when running in a cluster. */
export const IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** The validated configuration. */
export interface OperatorConfig {
  /** Namespace to watch; undefined watches all namespaces. */
  watchNamespace: string | undefined;
  /** Image for RaftKVs without spec.image. */
  nodeImage: string;
  /** DNS suffix of the cluster (pods are `<pod>.<svc>.<ns>.svc.<clusterDomain>`). */
  clusterDomain: string;
  /** Address and port of /metrics, /healthz and /readyz. */
  metricsAddr: string;
  metricsPort: number;
  /** Whether to take a Lease before reconciling (off only for a single replica in development). */
  leaderElection: boolean;
  leaderElectionNamespace: string;
  /** Name of the Lease. */
  leaderElectionId: string;
  /** This process's identity: Lease holder and Event reportingInstance. */
  identity: string;
  /** Every RaftKV is reconciled at least this often. */
  resyncSeconds: number;
  /** Reconciles running at once (each on a different RaftKV). */
  workers: number;
  logLevel: LogLevel;
}

/** A configuration variable with a bad value. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;
  /** What is wrong with it. */
  readonly problem: string;
  /** Makes an error for `variable`. */
  constructor(variable: string, problem: string) {
    super(`invalid ${variable}: ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
    this.problem = problem;
  }
}

/** The one line main prints before exiting 2. */
export function formatConfigError(e: ConfigError): string {
  return `raftkv-operator: ${e.message}`;
}

/** What loadConfig reads besides the environment; tests replace it. */
export interface ConfigSources {
  /** Contents of the in-cluster namespace file, or undefined when there is none. */
  inClusterNamespace(): string | undefined;
  hostname(): string;
  /** A short random suffix for the default identity. */
  suffix(): string;
}

const defaultSources: ConfigSources = {
  inClusterNamespace: () => {
    try {
      return readFileSync(IN_CLUSTER_NAMESPACE_FILE, "utf8").trim();
    } catch {
      return undefined;
    }
  },
  hostname: () => hostname(),
  suffix: () => randomBytes(3).toString("hex"),
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Reads and validates the configuration; throws ConfigError on the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv, sources: ConfigSources = defaultSources): OperatorConfig {
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const dnsLabel = (name: string, v: string): string => {
    if (!DNS_LABEL.test(v)) throw new ConfigError(name, `${JSON.stringify(v)} is not a DNS label (RFC 1123)`);
    return v;
  };
  const dnsSubdomain = (name: string, v: string): string => {
    if (!DNS_SUBDOMAIN.test(v)) throw new ConfigError(name, `${JSON.stringify(v)} is not a DNS subdomain (RFC 1123)`);
    return v;
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(name, `${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
    }
    return Number(v);
  };

  const watch = get("WATCH_NAMESPACE");
  const nodeImage = get("NODE_IMAGE") ?? "raftkv-node:0.1.0";
  if (/\s/.test(nodeImage)) throw new ConfigError("NODE_IMAGE", `${JSON.stringify(nodeImage)} contains whitespace`);
  const clusterDomain = dnsSubdomain("CLUSTER_DOMAIN", (get("CLUSTER_DOMAIN") ?? "cluster.local").replace(/\.$/, ""));
  const metricsAddr = get("METRICS_ADDR") ?? "0.0.0.0";
  if (isIP(metricsAddr) === 0)
    throw new ConfigError("METRICS_ADDR", `${JSON.stringify(metricsAddr)} is not an IP address`);
  const metricsPort = int("METRICS_PORT", 8080, 0, 65535);

  const le = get("LEADER_ELECTION")?.toLowerCase() ?? "true";
  if (le !== "true" && le !== "false") {
    throw new ConfigError("LEADER_ELECTION", `${JSON.stringify(le)} is neither true nor false`);
  }
  const leNamespace = get("LEADER_ELECTION_NAMESPACE");
  const podNamespace = get("POD_NAMESPACE");
  const leaderElectionNamespace =
    leNamespace !== undefined
      ? dnsLabel("LEADER_ELECTION_NAMESPACE", leNamespace)
      : podNamespace !== undefined
        ? dnsLabel("POD_NAMESPACE", podNamespace)
        : sources.inClusterNamespace() || "default";
  const leaderElectionId = dnsSubdomain("LEADER_ELECTION_ID", get("LEADER_ELECTION_ID") ?? "raftkv-operator");

  const podName = get("POD_NAME");
  // Two processes on one host must not share an identity, hence the suffix.
  const identity = podName ?? `${sources.hostname()}-${sources.suffix()}`;
  if (identity.length > 128) throw new ConfigError("POD_NAME", "longer than 128 characters");
  if (/\s/.test(identity)) throw new ConfigError("POD_NAME", `${JSON.stringify(identity)} contains whitespace`);

  const level = (get("LOG_LEVEL")?.toLowerCase() ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError("LOG_LEVEL", `${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(", ")}`);
  }

  return {
    watchNamespace: watch === undefined ? undefined : dnsLabel("WATCH_NAMESPACE", watch),
    nodeImage,
    clusterDomain,
    metricsAddr,
    metricsPort,
    leaderElection: le === "true",
    leaderElectionNamespace,
    leaderElectionId,
    identity,
    resyncSeconds: int("RESYNC_SECONDS", 30, 1, 86_400),
    workers: int("WORKERS", 2, 1, 64),
    logLevel: level,
  };
}
