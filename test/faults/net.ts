/**
 * Where the nodes of a fault run live on the network, and how partitions are made.
 *
 * netns mode (root, `ip` available): a "switch" namespace holds a bridge;
 * each node gets its own namespace with one veth into the bridge and the
 * address 10.199.S.(10+i) in a /24 claimed for this run; the runner (root
 * namespace) reaches the bridge through one more veth holding 10.199.S.1.
 * Nothing is routed: the namespaces have no default route and the root
 * namespace only gains a connected /24 on its uplink, so no packet can leave
 * the machine. Partitions are DROP rules inside the node namespaces
 * (iptables), or blackhole routes when iptables is missing.
 *
 * loopback mode (fallback): nodes bind 127.A.B.(10+i) on lo. Node-to-node
 * connections on lo all come from 127.0.0.1, so source addresses cannot tell
 * nodes apart: partitions then need root and iptables, and run each node
 * under its own uid so OUTPUT rules can match `--uid-owner`. Without them,
 * partition faults are disabled.
 */

import { freePort } from "../../scripts/free-port.ts";
import type { RunRecord } from "./resources.ts";
import { claimSubnet } from "./resources.ts";
import { cmd, isRoot, which } from "./sys.ts";

/** How a partition is enforced. */
export type PartitionMethod = "iptables" | "blackhole" | "iptables-uid" | "none";

/** How to start a process as node `i`: the command to spawn and, in loopback mode with partitions, a uid. */
export interface SpawnPlan {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

/** The network of one run. */
export interface Network {
  readonly mode: "netns" | "loopback";
  readonly partitions: PartitionMethod;
  /** Node i's address (0-based). */
  addr(i: number): string;
  httpPort(i: number): number;
  raftPort(i: number): number;
  /** Wraps `file args` so it runs as node i (in its namespace). */
  spawnPlan(i: number, file: string, args: string[]): SpawnPlan;
  /** Drops all traffic between each pair (both directions), on top of what is already cut. */
  cut(pairs: Array<[number, number]>): void;
  /** Removes every partition. */
  heal(): void;
  /** One line saying what this is. */
  describe(): string;
}

/** Free ports on a run's hosts come from the one picker, below the kernel's ephemeral range. */
export { freePort };

/** What the machine allows, for choosing a mode. */
export function probe(): { root: boolean; ip: boolean; iptables: boolean; mount: boolean } {
  const root = isRoot();
  return {
    root,
    ip: which("ip") !== undefined,
    // FAULTS_NO_IPTABLES=1 exercises the fallbacks on a machine that has iptables.
    iptables:
      root &&
      !process.env.FAULTS_NO_IPTABLES &&
      which("iptables") !== undefined &&
      cmd("iptables", ["-w", "-S", "OUTPUT"], false).ok,
    mount: root && which("mount") !== undefined,
  };
}

/** Builds the network of a run: netns when possible (unless `want` says otherwise), else loopback. */
export async function createNetwork(
  want: "auto" | "netns" | "loopback",
  n: number,
  rec: RunRecord,
  rand: () => number,
  log: (msg: string) => void,
): Promise<Network> {
  const p = probe();
  if (want !== "loopback" && p.root && p.ip) {
    try {
      return NetnsNetwork.create(n, rec, rand, p.iptables);
    } catch (e) {
      if (want === "netns") throw e;
      log(`network namespaces unavailable (${(e as Error).message}); falling back to loopback`);
    }
  } else if (want === "netns") {
    throw new Error(`--net netns needs root and iproute2 (root: ${p.root}, ip: ${p.ip})`);
  }
  return LoopbackNetwork.create(n, rec, rand, p.iptables);
}

const HTTP_PORT = 11000;
const RAFT_PORT = 12000;

/** Nodes in their own network namespaces behind a bridge in a switch namespace. */
class NetnsNetwork implements Network {
  readonly mode = "netns" as const;
  readonly partitions: PartitionMethod;
  readonly #prefix: string;
  readonly #ns: string[];
  readonly #cuts = new Set<string>();

  private constructor(prefix: string, ns: string[], partitions: PartitionMethod) {
    this.#prefix = prefix;
    this.#ns = ns;
    this.partitions = partitions;
  }

  static create(n: number, rec: RunRecord, rand: () => number, iptables: boolean): NetnsNetwork {
    const id = rec.data.runId;
    const octet = claimSubnet(rec, (o) => subnetInUse(`10.199.${o}.`), rand);
    const prefix = `10.199.${octet}`;
    const sw = `rkv-${id}-sw`;
    const up = `rkv${id}u`; // root-namespace end of the uplink (at most 15 characters)
    rec.note("netns", sw);
    cmd("ip", ["netns", "add", sw]);
    cmd("ip", ["-n", sw, "link", "set", "lo", "up"]);
    cmd("ip", ["-n", sw, "link", "add", "br0", "type", "bridge"]);
    cmd("ip", ["-n", sw, "link", "set", "br0", "up"]);
    rec.note("links", up);
    cmd("ip", ["link", "add", up, "type", "veth", "peer", "name", "uplink", "netns", sw]);
    cmd("ip", ["-n", sw, "link", "set", "uplink", "master", "br0", "up"]);
    cmd("ip", ["addr", "add", `${prefix}.1/24`, "dev", up]);
    cmd("ip", ["link", "set", up, "up"]);
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      const ns = `rkv-${id}-n${i + 1}`;
      names.push(ns);
      rec.note("netns", ns);
      cmd("ip", ["netns", "add", ns]);
      cmd("ip", ["-n", ns, "link", "set", "lo", "up"]);
      cmd("ip", ["-n", sw, "link", "add", `p${i + 1}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      cmd("ip", ["-n", sw, "link", "set", `p${i + 1}`, "master", "br0", "up"]);
      cmd("ip", ["-n", ns, "addr", "add", `${prefix}.${10 + i + 1}/24`, "dev", "eth0"]);
      cmd("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    }
    let method: PartitionMethod = "blackhole";
    if (iptables && names[0] && cmd("ip", ["netns", "exec", names[0], "iptables", "-w", "-S"], false).ok) {
      method = "iptables";
    }
    return new NetnsNetwork(prefix, names, method);
  }

  addr(i: number): string {
    return `${this.#prefix}.${10 + i + 1}`;
  }
  httpPort(): number {
    return HTTP_PORT;
  }
  raftPort(): number {
    return RAFT_PORT;
  }

  spawnPlan(i: number, file: string, args: string[]): SpawnPlan {
    return { file: "ip", args: ["netns", "exec", this.#ns[i] as string, file, ...args] };
  }

  cut(pairs: Array<[number, number]>): void {
    for (const [a, b] of pairs) {
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const key = `${x}>${y}`;
        if (this.#cuts.has(key)) continue;
        this.#cuts.add(key);
        const ns = this.#ns[x] as string;
        const peer = this.addr(y);
        if (this.partitions === "iptables") {
          cmd("ip", ["netns", "exec", ns, "iptables", "-w", "-I", "INPUT", "-s", peer, "-j", "DROP"]);
          cmd("ip", ["netns", "exec", ns, "iptables", "-w", "-I", "OUTPUT", "-d", peer, "-j", "DROP"]);
        } else {
          cmd("ip", ["-n", ns, "route", "add", "blackhole", `${peer}/32`]);
        }
      }
    }
  }

  heal(): void {
    for (let x = 0; x < this.#ns.length; x++) {
      const ns = this.#ns[x] as string;
      if (this.partitions === "iptables") {
        cmd("ip", ["netns", "exec", ns, "iptables", "-w", "-F", "INPUT"], false);
        cmd("ip", ["netns", "exec", ns, "iptables", "-w", "-F", "OUTPUT"], false);
      } else {
        for (let y = 0; y < this.#ns.length; y++) {
          if (this.#cuts.has(`${x}>${y}`))
            cmd("ip", ["-n", ns, "route", "del", "blackhole", `${this.addr(y)}/32`], false);
        }
      }
    }
    this.#cuts.clear();
  }

  describe(): string {
    return `netns: ${this.#ns.length} namespaces on ${this.#prefix}.0/24 behind a bridge; partitions by ${this.partitions === "iptables" ? "iptables DROP rules" : "blackhole routes (iptables not found)"}`;
  }
}

/** True when some interface address or route of this namespace already uses `prefix` (e.g. "10.199.7."). */
function subnetInUse(prefix: string): boolean {
  const addrs = cmd("ip", ["-4", "-o", "addr", "show"], false).out;
  const routes = cmd("ip", ["-4", "route", "show", "table", "all"], false).out;
  return (
    addrs.includes(` ${prefix}`) || routes.split("\n").some((l) => l.startsWith(prefix) || l.includes(` ${prefix}`))
  );
}

/** Nodes on distinct 127.x addresses in the root namespace. */
class LoopbackNetwork implements Network {
  readonly mode = "loopback" as const;
  readonly partitions: PartitionMethod;
  readonly #prefix: string;
  readonly #ports: Array<{ http: number; raft: number }>;
  readonly #chain: string | undefined;
  readonly #uidBase: number;

  private constructor(
    prefix: string,
    ports: Array<{ http: number; raft: number }>,
    chain: string | undefined,
    uidBase: number,
  ) {
    this.#prefix = prefix;
    this.#ports = ports;
    this.#chain = chain;
    this.#uidBase = uidBase;
    this.partitions = chain ? "iptables-uid" : "none";
  }

  static async create(n: number, rec: RunRecord, rand: () => number, iptables: boolean): Promise<LoopbackNetwork> {
    const prefix = `127.${1 + Math.floor(rand() * 250)}.${1 + Math.floor(rand() * 250)}`;
    const ports: Array<{ http: number; raft: number }> = [];
    for (let i = 0; i < n; i++) {
      const host = `${prefix}.${10 + i + 1}`;
      ports.push({ http: await freePort(host), raft: await freePort(host) });
    }
    let chain: string | undefined;
    // Uids no account uses, distinct per run, so rules of parallel runs never match each other's nodes.
    const uidBase = 3_000_000 + Math.floor(rand() * 100_000) * 8;
    if (iptables) {
      chain = `RKV-${rec.data.runId}`;
      rec.note("chains", chain);
      cmd("iptables", ["-w", "-N", chain]);
      cmd("iptables", ["-w", "-I", "OUTPUT", "-j", chain]);
    }
    return new LoopbackNetwork(prefix, ports, chain, uidBase);
  }

  addr(i: number): string {
    return `${this.#prefix}.${10 + i + 1}`;
  }
  httpPort(i: number): number {
    return this.#ports[i]?.http ?? 0;
  }
  raftPort(i: number): number {
    return this.#ports[i]?.raft ?? 0;
  }

  /** The uid node i runs under (partitions by owner need one uid per node). */
  uid(i: number): number | undefined {
    return this.#chain ? this.#uidBase + i : undefined;
  }

  spawnPlan(i: number, file: string, args: string[]): SpawnPlan {
    const uid = this.uid(i);
    return uid === undefined ? { file, args } : { file, args, uid, gid: uid };
  }

  cut(pairs: Array<[number, number]>): void {
    if (!this.#chain) throw new Error("partitions are disabled in this mode");
    for (const [a, b] of pairs) {
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const uid = String(this.uid(x));
        cmd("iptables", ["-w", "-A", this.#chain, "-m", "owner", "--uid-owner", uid, "-d", this.addr(y), "-j", "DROP"]);
      }
    }
  }

  heal(): void {
    if (this.#chain) cmd("iptables", ["-w", "-F", this.#chain], false);
  }

  describe(): string {
    const how =
      this.partitions === "none"
        ? "partition faults disabled (needs root and iptables)"
        : "partitions by iptables OUTPUT rules matching each node's own uid";
    return `loopback: nodes on ${this.#prefix}.x; ${how}`;
  }
}
