/** Configuration: defaults, every validation rule, and loadConfig's exit behaviour. */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Config,
  type ConfigError,
  formatConfigError,
  type HostInfo,
  isConfigError,
  parseConfig,
} from "../../node/src/config.ts";

const host: HostInfo = {
  hostname: "raftkv-0",
  resolveIPv4: (h) => (h === "raftkv-0" ? "10.1.2.3" : undefined),
  readFile: (p) => {
    if (p === "/secret") return "s3cret\n";
    if (p === "/empty") return " \n";
    throw Object.assign(new Error("no such file"), { code: "ENOENT" });
  },
};

function ok(env: Record<string, string>): Config {
  const r = parseConfig(env, host);
  assert.ok(!isConfigError(r), `unexpected error: ${isConfigError(r) ? formatConfigError(r) : ""}`);
  return r;
}

function fails(env: Record<string, string>, variable: string, pattern: RegExp): ConfigError {
  const r = parseConfig(env, host);
  assert.ok(isConfigError(r), `expected ${variable} to be refused for ${JSON.stringify(env)}`);
  assert.equal(r.variable, variable, r.problem);
  assert.match(r.problem, pattern);
  return r;
}

test("an empty environment gives the documented defaults", () => {
  assert.deepEqual(ok({}), {
    nodeId: "raftkv-0",
    stateDir: "/tmp/raftkv-0",
    kvStore: "leveldb",
    httpAddr: "0.0.0.0",
    httpPort: 11000,
    raftAddr: "0.0.0.0",
    raftPort: 12000,
    raftAdvertiseAddr: "10.1.2.3",
    raftAdvertisePort: 12000,
    httpAdvertiseAddr: "10.1.2.3",
    httpAdvertisePort: 11000,
    peers: [{ id: "raftkv-0", host: "10.1.2.3", port: 12000 }],
    secret: undefined,
    clusterId: "raftkv",
    logLevel: "info",
    discovery: "static",
    discoveryService: undefined,
    bootstrapExpect: 1,
    membership: "self",
    tickMs: 100,
    electionTicks: 10,
    heartbeatTicks: 1,
    snapshotThreshold: 8192,
    snapshotLogRatio: 1,
    snapshotMaxLogBytes: 64 * 1024 * 1024,
    maxBodyBytes: 1048576,
    minFreeBytes: 64 * 1024 * 1024,
    kvCacheBytes: 64 * 1024 * 1024,
  });
});

test("SNAPSHOT_LOG_RATIO is a decimal from 0 to 1000; SNAPSHOT_MAX_LOG_BYTES a byte count", () => {
  assert.equal(ok({ SNAPSHOT_LOG_RATIO: "0" }).snapshotLogRatio, 0);
  assert.equal(ok({ SNAPSHOT_LOG_RATIO: "0.5" }).snapshotLogRatio, 0.5);
  assert.equal(ok({ SNAPSHOT_LOG_RATIO: "1000" }).snapshotLogRatio, 1000);
  for (const bad of ["-1", "1e3", "abc", ".5", "NaN"])
    fails({ SNAPSHOT_LOG_RATIO: bad }, "SNAPSHOT_LOG_RATIO", /decimal/);
  fails({ SNAPSHOT_LOG_RATIO: "1001" }, "SNAPSHOT_LOG_RATIO", /larger than 1000/);
  assert.equal(ok({ SNAPSHOT_MAX_LOG_BYTES: "1Gi" }).snapshotMaxLogBytes, 1024 ** 3);
  fails({ SNAPSHOT_MAX_LOG_BYTES: "lots" }, "SNAPSHOT_MAX_LOG_BYTES", /byte count/);
});

test("derived defaults follow the variables they derive from", () => {
  const c = ok({ NODE_ID: "n1", RAFT_PORT: "7000", HTTP_PORT: "8000", RAFT_ADVERTISE_ADDR: "n1.svc" });
  assert.equal(c.stateDir, "/tmp/n1");
  assert.equal(c.raftAdvertisePort, 7000);
  assert.equal(c.httpAdvertiseAddr, "n1.svc");
  assert.equal(c.httpAdvertisePort, 8000);
  assert.deepEqual(c.peers, [{ id: "n1", host: "n1.svc", port: 7000 }]);
  const unresolved = parseConfig({}, { hostname: "h", resolveIPv4: () => undefined }) as Config;
  assert.equal(unresolved.raftAdvertiseAddr, "127.0.0.1");
});

test("empty and blank variables count as unset", () => {
  assert.equal(ok({ HTTP_PORT: "", KV_STORE: "  " }).httpPort, 11000);
});

describe("NODE_ID", () => {
  test("must be a DNS-label-ish name of at most 253 characters", () => {
    for (const bad of ["Node", "-a", "a-", "a_b", "a b", "a".repeat(254)]) fails({ NODE_ID: bad }, "NODE_ID", /./);
    ok({ NODE_ID: "a" });
    ok({ NODE_ID: "raftkv-0.raftkv.default" });
    ok({ NODE_ID: `a${".b".repeat(126)}` });
  });
  test("an invalid hostname is reported as NODE_ID", () => {
    const r = parseConfig({}, { hostname: "My_Host", resolveIPv4: () => undefined });
    assert.ok(isConfigError(r));
    assert.equal(r.variable, "NODE_ID");
    assert.match(r.problem, /unset, and the hostname "My_Host"/);
  });
});

test("KV_STORE: leveldb, memory, boltdb as an alias of leveldb; nothing else", () => {
  assert.equal(ok({ KV_STORE: "memory" }).kvStore, "memory");
  assert.equal(ok({ KV_STORE: "boltdb" }).kvStore, "leveldb");
  assert.equal(ok({ KV_STORE: "LevelDB" }).kvStore, "leveldb");
  fails({ KV_STORE: "rocksdb" }, "KV_STORE", /"rocksdb" is not one of leveldb, memory, boltdb/);
});

test("ports are integers in 1..65535", () => {
  for (const v of ["HTTP_PORT", "RAFT_PORT", "RAFT_ADVERTISE_PORT", "HTTP_ADVERTISE_PORT"]) {
    fails({ [v]: "0" }, v, /outside 1\.\.65535/);
    fails({ [v]: "65536" }, v, /outside/);
    fails({ [v]: "80a" }, v, /not a port/);
    fails({ [v]: "-1" }, v, /not a port/);
    fails({ [v]: "1.5" }, v, /not a port/);
    ok({ [v]: "65535" });
  }
});

test("addresses: IPv4, IPv6 (bare or bracketed), DNS names; no ports, no wildcards to advertise", () => {
  assert.equal(ok({ HTTP_ADDR: "::" }).httpAddr, "::");
  assert.equal(ok({ RAFT_ADDR: "[::1]" }).raftAddr, "::1");
  fails({ HTTP_ADDR: "0.0.0.0:11000" }, "HTTP_ADDR", /without a port \(use HTTP_PORT\)/);
  fails({ RAFT_ADDR: "host:12000" }, "RAFT_ADDR", /without a port/);
  fails({ RAFT_ADDR: "bad_host" }, "RAFT_ADDR", /not a valid host/);
  fails({ RAFT_ADVERTISE_ADDR: "999.1.1.1" }, "RAFT_ADVERTISE_ADDR", /IPv4/);
  fails({ RAFT_ADVERTISE_ADDR: "0.0.0.0" }, "RAFT_ADVERTISE_ADDR", /wildcard/);
  fails({ HTTP_ADVERTISE_ADDR: "::" }, "HTTP_ADVERTISE_ADDR", /wildcard/);
  assert.equal(ok({ HTTP_ADVERTISE_ADDR: "api.example" }).httpAdvertiseAddr, "api.example");
});

describe("PEERS", () => {
  test("parses DNS names, IPv4 and bracketed IPv6, ignoring spaces and empty items", () => {
    const c = ok({ NODE_ID: "b", PEERS: " a@raftkv-0.raftkv:12000, b@10.0.0.2:12001,,c@[fd00::3]:12002," });
    assert.deepEqual(c.peers, [
      { id: "a", host: "raftkv-0.raftkv", port: 12000 },
      { id: "b", host: "10.0.0.2", port: 12001 },
      { id: "c", host: "fd00::3", port: 12002 },
    ]);
    assert.equal(c.bootstrapExpect, 3);
  });
  test("refuses malformed entries", () => {
    const p = (PEERS: string) => ({ NODE_ID: "a", PEERS });
    fails(p("a@h:1,b-h:2"), "PEERS", /"b-h:2" is not id@host:port \(missing @\)/);
    fails(p("a@h"), "PEERS", /has no port/);
    fails(p("a@h:"), "PEERS", /not a port/);
    fails(p("a@h:99999"), "PEERS", /outside 1\.\.65535/);
    fails(p("a@[::1]"), "PEERS", /has no port/);
    fails(p("a@::1:5"), "PEERS", /brackets/);
    fails(p("a@h:1,a@g:2"), "PEERS", /id "a" appears more than once/);
    fails(p("a@h:1,b@h:1"), "PEERS", /same address/);
    fails(p("A@h:1"), "PEERS", /id "A"/);
    fails(p("@h:1"), "PEERS", /id/);
    fails(p("a@bad_host:1"), "PEERS", /not a valid host/);
    fails(p(" , "), "PEERS", /no members/);
  });
  test("must list this node", () => {
    fails({ NODE_ID: "z", PEERS: "a@h:1,b@g:1" }, "PEERS", /does not list this node's NODE_ID "z"/);
  });
});

test("RAFT_SECRET and RAFT_SECRET_FILE", () => {
  assert.equal(ok({ RAFT_SECRET: "abc" }).secret, "abc");
  assert.equal(ok({ RAFT_SECRET_FILE: "/secret" }).secret, "s3cret");
  fails({ RAFT_SECRET: "a", RAFT_SECRET_FILE: "/secret" }, "RAFT_SECRET_FILE", /both set/);
  fails({ RAFT_SECRET_FILE: "/missing" }, "RAFT_SECRET_FILE", /cannot read \/missing: ENOENT/);
  fails({ RAFT_SECRET_FILE: "/empty" }, "RAFT_SECRET_FILE", /is empty/);
});

test("CLUSTER_ID and LOG_LEVEL", () => {
  assert.equal(ok({ CLUSTER_ID: "prod.eu-1" }).clusterId, "prod.eu-1");
  fails({ CLUSTER_ID: "has space" }, "CLUSTER_ID", /letters/);
  assert.equal(ok({ LOG_LEVEL: "DEBUG" }).logLevel, "debug");
  fails({ LOG_LEVEL: "trace" }, "LOG_LEVEL", /debug, info, warn, error/);
});

test("MEMBERSHIP: self (the default) or operator; nothing else", () => {
  assert.equal(ok({}).membership, "self");
  assert.equal(ok({ MEMBERSHIP: "operator" }).membership, "operator");
  assert.equal(ok({ MEMBERSHIP: "Operator" }).membership, "operator");
  assert.equal(ok({ MEMBERSHIP: " " }).membership, "self");
  fails({ MEMBERSHIP: "manual" }, "MEMBERSHIP", /"manual" is not one of self, operator/);
});

test("DISCOVERY=dns needs a service name and BOOTSTRAP_EXPECT, and no PEERS", () => {
  const dns = { DISCOVERY: "dns", DISCOVERY_SERVICE: "raftkv.default.svc.cluster.local", BOOTSTRAP_EXPECT: "3" };
  const c = ok(dns);
  assert.equal(c.discovery, "dns");
  assert.equal(c.bootstrapExpect, 3);
  assert.deepEqual(c.peers, [{ id: "raftkv-0", host: "10.1.2.3", port: 12000 }]);
  fails({ ...dns, DISCOVERY_SERVICE: "" }, "DISCOVERY_SERVICE", /required/);
  fails({ ...dns, DISCOVERY_SERVICE: "10.0.0.1" }, "DISCOVERY_SERVICE", /DNS name/);
  fails({ ...dns, BOOTSTRAP_EXPECT: "" }, "BOOTSTRAP_EXPECT", /required/);
  fails({ ...dns, BOOTSTRAP_EXPECT: "0" }, "BOOTSTRAP_EXPECT", /positive integer/);
  fails({ ...dns, PEERS: "raftkv-0@h:1" }, "PEERS", /unset when DISCOVERY=dns/);
  fails({ DISCOVERY: "consul" }, "DISCOVERY", /static, dns/);
  // With static discovery BOOTSTRAP_EXPECT may only restate the PEERS count.
  ok({ BOOTSTRAP_EXPECT: "1" });
  fails({ BOOTSTRAP_EXPECT: "3" }, "BOOTSTRAP_EXPECT", /is 3 but PEERS lists 1/);
});

test("numbers are positive integers; ELECTION_TICKS > HEARTBEAT_TICKS", () => {
  for (const v of ["TICK_MS", "ELECTION_TICKS", "HEARTBEAT_TICKS", "SNAPSHOT_THRESHOLD", "MAX_BODY_BYTES"]) {
    fails({ [v]: "0" }, v, /positive integer/);
    fails({ [v]: "-5" }, v, /positive integer/);
    fails({ [v]: "2.5" }, v, /positive integer/);
    fails({ [v]: "1e3" }, v, /positive integer/);
    fails({ [v]: "99999999999" }, v, /larger than/);
  }
  fails({ ELECTION_TICKS: "3", HEARTBEAT_TICKS: "3" }, "ELECTION_TICKS", /greater than HEARTBEAT_TICKS \(3\)/);
  assert.equal(ok({ ELECTION_TICKS: "4", HEARTBEAT_TICKS: "3", TICK_MS: "50" }).tickMs, 50);
});

test("MIN_FREE_BYTES takes a byte count with an optional unit; 0 turns the check off", () => {
  assert.equal(ok({ MIN_FREE_BYTES: "0" }).minFreeBytes, 0);
  assert.equal(ok({ MIN_FREE_BYTES: "4096" }).minFreeBytes, 4096);
  assert.equal(ok({ MIN_FREE_BYTES: "8Mi" }).minFreeBytes, 8 * 1024 * 1024);
  assert.equal(ok({ MIN_FREE_BYTES: "2G" }).minFreeBytes, 2e9);
  assert.equal(ok({ MIN_FREE_BYTES: "1gi" }).minFreeBytes, 1024 ** 3);
  for (const bad of ["-1", "1.5Mi", "64MB", "Mi", "1e6", "lots"]) {
    fails({ MIN_FREE_BYTES: bad }, "MIN_FREE_BYTES", /not a byte count/);
  }
  fails({ MIN_FREE_BYTES: "99999999999999999Gi" }, "MIN_FREE_BYTES", /too large/);
});

test("KV_CACHE_BYTES takes a byte count with an optional unit; 0 turns the cache off", () => {
  assert.equal(ok({ KV_CACHE_BYTES: "0" }).kvCacheBytes, 0);
  assert.equal(ok({ KV_CACHE_BYTES: "1048576" }).kvCacheBytes, 1048576);
  assert.equal(ok({ KV_CACHE_BYTES: "256Mi" }).kvCacheBytes, 256 * 1024 * 1024);
  assert.equal(ok({ KV_CACHE_BYTES: "1G" }).kvCacheBytes, 1e9);
  for (const bad of ["-1", "64MB", "1.5Gi", "lots"]) {
    fails({ KV_CACHE_BYTES: bad }, "KV_CACHE_BYTES", /not a byte count/);
  }
  fails({ KV_CACHE_BYTES: "99999999999999999Gi" }, "KV_CACHE_BYTES", /too large/);
});

test("loadConfig prints one line naming the variable and exits 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "raftkv-config-"));
  try {
    const script = join(dir, "load.ts");
    const config = fileURLToPath(new URL("../../node/src/config.ts", import.meta.url));
    writeFileSync(
      script,
      `import { loadConfig } from ${JSON.stringify(config)};\nconsole.log(JSON.stringify(await loadConfig()));\n`,
    );
    const bad = spawnSync(process.execPath, [script], {
      env: { PATH: process.env.PATH, NODE_ID: "n1", HTTP_PORT: "http" },
      encoding: "utf8",
    });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'raftkv-node: invalid HTTP_PORT: "http" is not a port number\n');
    const badMode = spawnSync(process.execPath, [script], {
      env: { PATH: process.env.PATH, NODE_ID: "n1", RAFT_ADVERTISE_ADDR: "10.9.9.9", MEMBERSHIP: "auto" },
      encoding: "utf8",
    });
    assert.equal(badMode.status, 2);
    assert.equal(badMode.stderr, 'raftkv-node: invalid MEMBERSHIP: "auto" is not one of self, operator\n');
    const good = spawnSync(process.execPath, [script], {
      env: { PATH: process.env.PATH, NODE_ID: "n1", RAFT_ADVERTISE_ADDR: "10.9.9.9" },
      encoding: "utf8",
    });
    assert.equal(good.status, 0, good.stderr);
    assert.equal(JSON.parse(good.stdout).peers[0].host, "10.9.9.9");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
