/** The operator's environment variables: defaults, each accepted form, and a named error for each bad one. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, type ConfigSources, formatConfigError, loadConfig } from "../../operator/src/config.ts";

const sources = (ns?: string): ConfigSources => ({
  inClusterNamespace: () => ns,
  hostname: () => "host-a",
  suffix: () => "abc123",
});

test("defaults with an empty environment", () => {
  assert.deepEqual(loadConfig({}, sources()), {
    watchNamespace: undefined,
    nodeImage: "raftkv-node:0.1.0",
    clusterDomain: "cluster.local",
    metricsAddr: "0.0.0.0",
    metricsPort: 8080,
    leaderElection: true,
    leaderElectionNamespace: "default",
    leaderElectionId: "raftkv-operator",
    identity: "host-a-abc123",
    resyncSeconds: 30,
    workers: 2,
    logLevel: "info",
  });
});

test("every variable is read", () => {
  const c = loadConfig(
    {
      WATCH_NAMESPACE: "team-a",
      NODE_IMAGE: "registry.local/raftkv-node:1.2.3",
      CLUSTER_DOMAIN: "corp.example.",
      METRICS_ADDR: "127.0.0.1",
      METRICS_PORT: "9100",
      LEADER_ELECTION: "FALSE",
      LEADER_ELECTION_NAMESPACE: "ops",
      LEADER_ELECTION_ID: "raftkv.leader",
      POD_NAME: "raftkv-operator-7d9f-x2",
      RESYNC_SECONDS: "5",
      WORKERS: "4",
      LOG_LEVEL: "debug",
    },
    sources("from-file"),
  );
  assert.deepEqual(c, {
    watchNamespace: "team-a",
    nodeImage: "registry.local/raftkv-node:1.2.3",
    clusterDomain: "corp.example",
    metricsAddr: "127.0.0.1",
    metricsPort: 9100,
    leaderElection: false,
    leaderElectionNamespace: "ops",
    leaderElectionId: "raftkv.leader",
    identity: "raftkv-operator-7d9f-x2",
    resyncSeconds: 5,
    workers: 4,
    logLevel: "debug",
  });
});

test("empty variables count as unset", () => {
  const c = loadConfig({ WATCH_NAMESPACE: "", METRICS_PORT: " ", POD_NAME: "" }, sources());
  assert.equal(c.watchNamespace, undefined);
  assert.equal(c.metricsPort, 8080);
  assert.equal(c.identity, "host-a-abc123");
});

test("the Lease namespace falls back to POD_NAMESPACE, then the in-cluster file, then default", () => {
  assert.equal(loadConfig({ POD_NAMESPACE: "pods-ns" }, sources("file-ns")).leaderElectionNamespace, "pods-ns");
  assert.equal(loadConfig({}, sources("file-ns")).leaderElectionNamespace, "file-ns");
  assert.equal(loadConfig({}, sources("")).leaderElectionNamespace, "default");
  assert.equal(loadConfig({}, sources(undefined)).leaderElectionNamespace, "default");
});

test("two processes on one host get different default identities", () => {
  const a = loadConfig({});
  const b = loadConfig({});
  assert.notEqual(a.identity, b.identity);
});

const bad: [Record<string, string>, string][] = [
  [{ WATCH_NAMESPACE: "Team_A" }, "WATCH_NAMESPACE"],
  [{ NODE_IMAGE: "raftkv node" }, "NODE_IMAGE"],
  [{ CLUSTER_DOMAIN: "bad..domain" }, "CLUSTER_DOMAIN"],
  [{ METRICS_ADDR: "localhost" }, "METRICS_ADDR"],
  [{ METRICS_PORT: "http" }, "METRICS_PORT"],
  [{ METRICS_PORT: "65536" }, "METRICS_PORT"],
  [{ METRICS_PORT: "-1" }, "METRICS_PORT"],
  [{ LEADER_ELECTION: "yes" }, "LEADER_ELECTION"],
  [{ LEADER_ELECTION_NAMESPACE: "a/b" }, "LEADER_ELECTION_NAMESPACE"],
  [{ POD_NAMESPACE: "UPPER" }, "POD_NAMESPACE"],
  [{ LEADER_ELECTION_ID: "Lease!" }, "LEADER_ELECTION_ID"],
  [{ POD_NAME: "x".repeat(129) }, "POD_NAME"],
  [{ RESYNC_SECONDS: "0" }, "RESYNC_SECONDS"],
  [{ RESYNC_SECONDS: "1.5" }, "RESYNC_SECONDS"],
  [{ WORKERS: "0" }, "WORKERS"],
  [{ WORKERS: "100" }, "WORKERS"],
  [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
];

for (const [env, variable] of bad) {
  test(`bad ${JSON.stringify(env)} is a ConfigError naming ${variable}`, () => {
    assert.throws(
      () => loadConfig(env, sources()),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.variable, variable);
        assert.match(formatConfigError(e), new RegExp(`^raftkv-operator: invalid ${variable}: \\S`));
        return true;
      },
    );
  });
}
