/**
 * Who the node is and who its peers are, from the configuration: static PEERS
 * (ids with Raft addresses; the smallest id is the bootstrap seed) or DNS
 * discovery of a StatefulSet behind a headless Service (pods `<sts>-0..N-1`,
 * addressed as `<pod>.<service>`; ordinal 0 is the seed). Addresses are kept
 * as written: DNS names are never replaced by IPs.
 */

import { type Config, hostPort } from "../config.ts";
import type { MemberAddress } from "../membership-book.ts";

/** One peer: id and Raft address (`host:port`). */
export interface PeerSpec {
  id: string;
  raftAddr: string;
  /** Client URL when known (DNS mode derives it; PEERS does not carry it). */
  httpUrl: string;
}

/** The outcome of discovery. */
export interface Topology {
  self: { id: string; raftAddr: string; httpUrl: string };
  /** Every expected founding member, this node included. */
  peers: PeerSpec[];
  /** The id that may bootstrap a new cluster. */
  seed: string;
  /** Guesses the address of an id nobody announced (DNS mode). */
  derive?: (id: string) => MemberAddress | undefined;
  mode: "static" | "dns";
}

/** Thrown when the configuration cannot describe a topology (the process exits 2). */
export class TopologyError extends Error {
  override name = "TopologyError";
  readonly variable: string;
  /** A problem with `variable`. */
  constructor(variable: string, message: string) {
    super(message);
    this.variable = variable;
  }
}

/** The smallest id in code point order. */
export function smallestId(ids: readonly string[]): string {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0] ?? "";
}

/** Builds the topology; `env` tells which advertise settings were given explicitly. */
export function topology(cfg: Config, env: Record<string, string | undefined>): Topology {
  const explicit = (name: string) => (env[name]?.trim() ?? "") !== "";
  if (cfg.discovery === "dns") return dnsTopology(cfg, explicit);
  const me = cfg.peers.find((p) => p.id === cfg.nodeId);
  if (!me) throw new TopologyError("PEERS", `does not list ${cfg.nodeId}`);
  // Peers dial what PEERS says, so that is our Raft address; the HTTP host follows it unless given.
  const raftAddr = explicit("RAFT_ADVERTISE_ADDR")
    ? hostPort(cfg.raftAdvertiseAddr, cfg.raftAdvertisePort)
    : hostPort(me.host, me.port);
  const httpHost = explicit("HTTP_ADVERTISE_ADDR") || explicit("RAFT_ADVERTISE_ADDR") ? cfg.httpAdvertiseAddr : me.host;
  return {
    self: { id: cfg.nodeId, raftAddr, httpUrl: `http://${hostPort(httpHost, cfg.httpAdvertisePort)}` },
    peers: cfg.peers.map((p) => ({ id: p.id, raftAddr: hostPort(p.host, p.port), httpUrl: "" })),
    seed: smallestId(cfg.peers.map((p) => p.id)),
    mode: "static",
  };
}

function dnsTopology(cfg: Config, explicit: (name: string) => boolean): Topology {
  const service = cfg.discoveryService as string;
  const m = /^(.+)-(\d+)$/.exec(cfg.nodeId);
  if (!m) {
    throw new TopologyError(
      "NODE_ID",
      `"${cfg.nodeId}" is not a StatefulSet pod name (<name>-<ordinal>), needed for DISCOVERY=dns`,
    );
  }
  const sts = m[1] as string;
  const raftPort = cfg.raftAdvertisePort;
  const httpPort = cfg.httpAdvertisePort;
  const derive = (id: string): MemberAddress | undefined =>
    id.startsWith(`${sts}-`)
      ? { raftAddr: `${id}.${service}:${raftPort}`, httpUrl: `http://${id}.${service}:${httpPort}`, voter: true }
      : undefined;
  const peers: PeerSpec[] = [];
  for (let i = 0; i < cfg.bootstrapExpect; i++) {
    const id = `${sts}-${i}`;
    const a = derive(id) as MemberAddress;
    peers.push({ id, raftAddr: a.raftAddr, httpUrl: a.httpUrl });
  }
  const mine = derive(cfg.nodeId) as MemberAddress;
  const raftAddr = explicit("RAFT_ADVERTISE_ADDR") ? hostPort(cfg.raftAdvertiseAddr, raftPort) : mine.raftAddr;
  const httpUrl = explicit("HTTP_ADVERTISE_ADDR")
    ? `http://${hostPort(cfg.httpAdvertiseAddr, httpPort)}`
    : mine.httpUrl;
  if (!peers.some((p) => p.id === cfg.nodeId)) peers.push({ id: cfg.nodeId, raftAddr, httpUrl });
  return { self: { id: cfg.nodeId, raftAddr, httpUrl }, peers, seed: `${sts}-0`, derive, mode: "dns" };
}
