/**
 * The node's configuration, read from environment variables compatible with
 * the Kubernetes fork of hraftd (NODE_ID, STATE_DIR, KV_STORE, HTTP_ADDR,
 * HTTP_PORT, RAFT_ADDR, RAFT_PORT, RAFT_ADVERTISE_ADDR, RAFT_ADVERTISE_PORT,
 * PEERS) plus raftkv's own. An empty variable counts as unset, because
 * Kubernetes manifests often template optional values to "".
 */

import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";

/** One member given in PEERS: `id@host:port`. */
export interface Peer {
  id: string;
  /** DNS name, IPv4, or IPv6 (without brackets). */
  host: string;
  port: number;
}

/** Which state machine and log storage to use. */
export type KvStoreKind = "leveldb" | "memory";

/** Who manages membership: the nodes themselves (join, promote) or an operator through the admin API. */
export type MembershipMode = "self" | "operator";

/** Log verbosity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The validated configuration. */
export interface Config {
  nodeId: string;
  stateDir: string;
  kvStore: KvStoreKind;
  httpAddr: string;
  httpPort: number;
  raftAddr: string;
  raftPort: number;
  raftAdvertiseAddr: string;
  raftAdvertisePort: number;
  httpAdvertiseAddr: string;
  httpAdvertisePort: number;
  /** Initial voters (static discovery); always contains this node. */
  peers: Peer[];
  /** Shared cluster secret, or undefined for none. */
  secret: string | undefined;
  clusterId: string;
  logLevel: LogLevel;
  discovery: "static" | "dns";
  /** Headless service name (required for dns discovery). */
  discoveryService: string | undefined;
  /** Voters to wait for before bootstrapping (static: the PEERS count). */
  bootstrapExpect: number;
  /** `operator`: blank nodes never ask to join and the leader never promotes learners by itself. */
  membership: MembershipMode;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotThreshold: number;
  /** A snapshot also waits until the entries applied since the last one add up to this many times its size (0: no wait). */
  snapshotLogRatio: number;
  /** Entry bytes applied since the last snapshot that start a new one regardless of the ratio. */
  snapshotMaxLogBytes: number;
  maxBodyBytes: number;
  /** Free bytes to keep in STATE_DIR's file system: below it client writes are refused (0 = no check). */
  minFreeBytes: number;
  /** Approximate bytes of values the LevelDB KV store caches in memory for reads (0 = no cache). */
  kvCacheBytes: number;
}

/** A configuration problem: the variable at fault and what is wrong with it. */
export interface ConfigError {
  variable: string;
  problem: string;
}

/** What parseConfig needs from the host; injected so parsing stays pure. */
export interface HostInfo {
  hostname: string;
  /** An IPv4 address `host` resolves to, or undefined. */
  resolveIPv4: (host: string) => string | undefined;
  /** Reads a file as UTF-8, throwing on failure (default: fs.readFileSync). */
  readFile?: (path: string) => string;
}

/** Tells a ConfigError from a Config. */
export function isConfigError(r: Config | ConfigError): r is ConfigError {
  return "problem" in r;
}

/** The one line printed to stderr for a configuration error. */
export function formatConfigError(e: ConfigError): string {
  return `raftkv-node: invalid ${e.variable}: ${e.problem}`;
}

// Thrown inside parseConfig and turned into its return value.
class Invalid extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(problem);
    this.variable = variable;
  }
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$/;
const CLUSTER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_INT = 2_147_483_647; // setTimeout's limit; more is never meant

/** Problem with a member name (NODE_ID and PEERS ids), or undefined. */
export function nodeIdProblem(id: string): string | undefined {
  if (id.length > 253) return `"${id}" is longer than 253 characters`;
  if (!NAME.test(id)) return `"${id}" must be lowercase letters, digits, '-' and '.', starting and ending alphanumeric`;
  return undefined;
}

/** Validates a host (DNS name, IPv4, or IPv6 optionally in brackets) and returns it without brackets. */
function parseHost(variable: string, raw: string): string {
  const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  if (raw !== bare && isIP(bare) !== 6) throw new Invalid(variable, `"${raw}" is not a bracketed IPv6 address`);
  if (isIP(bare) !== 0) return bare;
  if (/^[\d.]+$/.test(bare)) throw new Invalid(variable, `"${raw}" is not a valid IPv4 address`);
  if (bare.includes(":")) {
    const hint = variable.endsWith("_ADDR") ? ` (use ${variable.replace(/_ADDR$/, "_PORT")})` : "";
    throw new Invalid(variable, `"${raw}" must be a host without a port${hint}`);
  }
  if (!DNS_NAME.test(bare)) throw new Invalid(variable, `"${raw}" is not a valid host name or IP address`);
  return bare;
}

function parsePort(variable: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new Invalid(variable, `"${raw}" is not a port number`);
  const n = Number(raw);
  if (n < 1 || n > 65535) throw new Invalid(variable, `${raw} is outside 1..65535`);
  return n;
}

function parsePositive(variable: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Invalid(variable, `"${raw}" is not a positive integer`);
  const n = Number(raw);
  if (n > MAX_INT) throw new Invalid(variable, `${raw} is larger than ${MAX_INT}`);
  return n;
}

/** A ratio: a plain decimal from 0 to 1000 (as `1`, `0.5`, `4`). */
function parseRatio(variable: string, raw: string): number {
  if (!/^\d{1,4}(\.\d{1,6})?$/.test(raw)) throw new Invalid(variable, `"${raw}" is not a decimal number (e.g. 1, 0.5)`);
  const n = Number(raw);
  if (n > 1000) throw new Invalid(variable, `${raw} is larger than 1000`);
  return n;
}

const BYTE_UNITS: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/** A byte count: digits with an optional unit (k, M, G, Ki, Mi, Gi, as in Kubernetes quantities); 0 allowed. */
function parseBytes(variable: string, raw: string): number {
  const m = /^(\d+)([kKmMgG]i?)?$/.exec(raw);
  if (!m) throw new Invalid(variable, `"${raw}" is not a byte count (e.g. 67108864, 64Mi, 1Gi)`);
  const n = Number(m[1]) * (BYTE_UNITS[(m[2] ?? "").toLowerCase()] as number);
  if (!Number.isSafeInteger(n)) throw new Invalid(variable, `${raw} is too large`);
  return n;
}

function oneOf<T extends string>(variable: string, raw: string, allowed: readonly T[]): T {
  const v = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(v))
    throw new Invalid(variable, `"${raw}" is not one of ${allowed.join(", ")}`);
  return v as T;
}

/** Parses `id@host:port,...`; `variable` names PEERS in errors. */
export function parsePeers(variable: string, raw: string): Peer[] {
  const peers: Peer[] = [];
  const byAddr = new Map<string, string>();
  for (const item of raw.split(",").map((s) => s.trim())) {
    if (item === "") continue;
    const at = item.indexOf("@");
    if (at < 0) throw new Invalid(variable, `entry "${item}" is not id@host:port (missing @)`);
    const id = item.slice(0, at);
    const idProblem = nodeIdProblem(id);
    if (idProblem) throw new Invalid(variable, `entry "${item}": id ${idProblem}`);
    const addr = item.slice(at + 1);
    const colon = addr.lastIndexOf(":");
    if (colon < 0 || addr.endsWith("]")) throw new Invalid(variable, `entry "${item}" has no port`);
    const rawHost = addr.slice(0, colon);
    if (rawHost.includes(":") && !rawHost.startsWith("[")) {
      throw new Invalid(variable, `entry "${item}": write IPv6 hosts in brackets, e.g. [::1]:12000`);
    }
    let host: string;
    let port: number;
    try {
      host = parseHost(variable, rawHost);
      port = parsePort(variable, addr.slice(colon + 1));
    } catch (e) {
      throw new Invalid(variable, `entry "${item}": ${(e as Error).message}`);
    }
    if (peers.some((p) => p.id === id)) throw new Invalid(variable, `id "${id}" appears more than once`);
    const key = `${host.toLowerCase()}:${port}`;
    const other = byAddr.get(key);
    if (other) throw new Invalid(variable, `"${other}" and "${id}" have the same address ${addr}`);
    byAddr.set(key, id);
    peers.push({ id, host, port });
  }
  if (peers.length === 0) throw new Invalid(variable, "no members listed");
  return peers;
}

/** Formats a host for `host:port`, bracketing IPv6. */
export function hostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** Validates the environment; returns the configuration or the first problem found. */
export function parseConfig(env: Record<string, string | undefined>, host: HostInfo): Config | ConfigError {
  try {
    return build(env, host);
  } catch (e) {
    if (e instanceof Invalid) return { variable: e.variable, problem: e.message };
    throw e;
  }
}

function build(env: Record<string, string | undefined>, host: HostInfo): Config {
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === "" ? undefined : v;
  };
  const num = (name: string, dflt: number) => {
    const v = get(name);
    return v === undefined ? dflt : parsePositive(name, v);
  };
  const port = (name: string, dflt: number) => {
    const v = get(name);
    return v === undefined ? dflt : parsePort(name, v);
  };

  const nodeId = get("NODE_ID") ?? host.hostname;
  const idProblem = nodeIdProblem(nodeId);
  if (idProblem) {
    throw new Invalid("NODE_ID", get("NODE_ID") === undefined ? `unset, and the hostname ${idProblem}` : idProblem);
  }
  const stateDir = get("STATE_DIR") ?? `/tmp/${nodeId}`;
  const kvRaw = oneOf("KV_STORE", get("KV_STORE") ?? "leveldb", ["leveldb", "memory", "boltdb"] as const);
  const kvStore: KvStoreKind = kvRaw === "boltdb" ? "leveldb" : kvRaw;

  const httpAddr = parseHost("HTTP_ADDR", get("HTTP_ADDR") ?? "0.0.0.0");
  const httpPort = port("HTTP_PORT", 11000);
  const raftAddr = parseHost("RAFT_ADDR", get("RAFT_ADDR") ?? "0.0.0.0");
  const raftPort = port("RAFT_PORT", 12000);

  const advRaw = get("RAFT_ADVERTISE_ADDR");
  const raftAdvertiseAddr =
    advRaw === undefined ? (host.resolveIPv4(host.hostname) ?? "127.0.0.1") : parseHost("RAFT_ADVERTISE_ADDR", advRaw);
  if (advRaw !== undefined && isUnspecified(raftAdvertiseAddr)) {
    throw new Invalid("RAFT_ADVERTISE_ADDR", `"${advRaw}" is a wildcard address that peers cannot dial`);
  }
  const raftAdvertisePort = port("RAFT_ADVERTISE_PORT", raftPort);
  const httpAdvRaw = get("HTTP_ADVERTISE_ADDR");
  const httpAdvertiseAddr = httpAdvRaw === undefined ? raftAdvertiseAddr : parseHost("HTTP_ADVERTISE_ADDR", httpAdvRaw);
  if (isUnspecified(httpAdvertiseAddr)) {
    throw new Invalid("HTTP_ADVERTISE_ADDR", `"${httpAdvRaw}" is a wildcard address that clients cannot dial`);
  }
  const httpAdvertisePort = port("HTTP_ADVERTISE_PORT", httpPort);

  const secret = readSecret(get("RAFT_SECRET"), get("RAFT_SECRET_FILE"), host.readFile);
  const clusterId = get("CLUSTER_ID") ?? "raftkv";
  if (!CLUSTER_ID.test(clusterId)) {
    throw new Invalid("CLUSTER_ID", `"${clusterId}" must be 1-128 letters, digits, '.', '_' or '-'`);
  }
  const logLevel = oneOf("LOG_LEVEL", get("LOG_LEVEL") ?? "info", ["debug", "info", "warn", "error"] as const);

  const discovery = oneOf("DISCOVERY", get("DISCOVERY") ?? "static", ["static", "dns"] as const);
  const svcRaw = get("DISCOVERY_SERVICE");
  const discoveryService = svcRaw === undefined ? undefined : parseHost("DISCOVERY_SERVICE", svcRaw);
  if (discoveryService !== undefined && isIP(discoveryService) !== 0) {
    throw new Invalid("DISCOVERY_SERVICE", `"${svcRaw}" must be a DNS name (a headless service), not an IP address`);
  }
  const expectRaw = get("BOOTSTRAP_EXPECT");
  const expect = expectRaw === undefined ? undefined : parsePositive("BOOTSTRAP_EXPECT", expectRaw);

  let peers: Peer[];
  let bootstrapExpect: number;
  const self: Peer = { id: nodeId, host: raftAdvertiseAddr, port: raftAdvertisePort };
  if (discovery === "dns") {
    if (discoveryService === undefined) throw new Invalid("DISCOVERY_SERVICE", "required when DISCOVERY=dns");
    if (get("PEERS") !== undefined)
      throw new Invalid("PEERS", "must be unset when DISCOVERY=dns (members come from DNS)");
    if (expect === undefined) throw new Invalid("BOOTSTRAP_EXPECT", "required when DISCOVERY=dns");
    peers = [self];
    bootstrapExpect = expect;
  } else {
    const peersRaw = get("PEERS");
    peers = peersRaw === undefined ? [self] : parsePeers("PEERS", peersRaw);
    if (!peers.some((p) => p.id === nodeId)) {
      throw new Invalid("PEERS", `does not list this node's NODE_ID "${nodeId}"`);
    }
    if (expect !== undefined && expect !== peers.length) {
      throw new Invalid("BOOTSTRAP_EXPECT", `is ${expect} but PEERS lists ${peers.length} member(s)`);
    }
    bootstrapExpect = peers.length;
  }

  const membership = oneOf("MEMBERSHIP", get("MEMBERSHIP") ?? "self", ["self", "operator"] as const);

  const tickMs = num("TICK_MS", 100);
  const electionTicks = num("ELECTION_TICKS", 10);
  const heartbeatTicks = num("HEARTBEAT_TICKS", 1);
  if (electionTicks <= heartbeatTicks) {
    throw new Invalid("ELECTION_TICKS", `${electionTicks} must be greater than HEARTBEAT_TICKS (${heartbeatTicks})`);
  }
  const snapshotThreshold = num("SNAPSHOT_THRESHOLD", 8192);
  const ratioRaw = get("SNAPSHOT_LOG_RATIO");
  const snapshotLogRatio = ratioRaw === undefined ? 1 : parseRatio("SNAPSHOT_LOG_RATIO", ratioRaw);
  const maxLogRaw = get("SNAPSHOT_MAX_LOG_BYTES");
  const snapshotMaxLogBytes =
    maxLogRaw === undefined ? 64 * 1024 ** 2 : parseBytes("SNAPSHOT_MAX_LOG_BYTES", maxLogRaw);
  const maxBodyBytes = num("MAX_BODY_BYTES", 1_048_576);
  const minFreeRaw = get("MIN_FREE_BYTES");
  const minFreeBytes = minFreeRaw === undefined ? 64 * 1024 ** 2 : parseBytes("MIN_FREE_BYTES", minFreeRaw);
  const cacheRaw = get("KV_CACHE_BYTES");
  const kvCacheBytes = cacheRaw === undefined ? 64 * 1024 ** 2 : parseBytes("KV_CACHE_BYTES", cacheRaw);

  return {
    nodeId,
    stateDir,
    kvStore,
    httpAddr,
    httpPort,
    raftAddr,
    raftPort,
    raftAdvertiseAddr,
    raftAdvertisePort,
    httpAdvertiseAddr,
    httpAdvertisePort,
    peers,
    secret,
    clusterId,
    logLevel,
    discovery,
    discoveryService,
    bootstrapExpect,
    membership,
    tickMs,
    electionTicks,
    heartbeatTicks,
    snapshotThreshold,
    snapshotLogRatio,
    snapshotMaxLogBytes,
    maxBodyBytes,
    minFreeBytes,
    kvCacheBytes,
  };
}

function isUnspecified(addr: string): boolean {
  return addr === "0.0.0.0" || /^[0:]+$/.test(addr);
}

function readSecret(
  inline: string | undefined,
  file: string | undefined,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): string | undefined {
  if (inline !== undefined && file !== undefined) {
    throw new Invalid("RAFT_SECRET_FILE", "RAFT_SECRET and RAFT_SECRET_FILE are both set; use one");
  }
  if (file === undefined) return inline;
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    throw new Invalid(
      "RAFT_SECRET_FILE",
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  // Secrets mounted from files often end with a newline that is not part of the secret.
  const secret = text.trim();
  if (secret === "") throw new Invalid("RAFT_SECRET_FILE", `${file} is empty`);
  return secret;
}

/**
 * Reads the configuration of this process. On error prints one line
 * (`raftkv-node: invalid <VAR>: <problem>`) to stderr and exits with code 2.
 */
export async function loadConfig(): Promise<Config> {
  const name = osHostname();
  let resolved: string | undefined;
  // Only resolve when the default is needed: a slow resolver must not delay explicit setups.
  if (!process.env.RAFT_ADVERTISE_ADDR?.trim()) {
    resolved = await lookup(name, { family: 4 }).then(
      (r) => r.address,
      () => undefined,
    );
  }
  const r = parseConfig(process.env, { hostname: name, resolveIPv4: (h) => (h === name ? resolved : undefined) });
  if (isConfigError(r)) {
    process.stderr.write(`${formatConfigError(r)}\n`);
    process.exit(2);
  }
  return r;
}
