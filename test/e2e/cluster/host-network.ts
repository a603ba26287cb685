/**
 * The host side of the e2e cluster's network: the node bridge that holds the node address (a bridge, as
 * this kernel has no dummy links), a FORWARD accept rule for the pod bridge (Docker's FORWARD policy is
 * DROP), and a check that the run's address ranges are unused here. No NAT rule is added: pod traffic has
 * no way off the machine. Removal is in host-cleanup.ts.
 */

import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Parses a.b.c.d/len into a 32-bit network number and mask. */
function cidr(text: string): { net: number; mask: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text);
  if (!m) throw new Error(`not an IPv4 address or CIDR: ${text}`);
  const octets = m.slice(1, 5).map(Number);
  const len = Number(m[5] ?? 32);
  if (octets.some((o) => o > 255) || len > 32) throw new Error(`not an IPv4 address or CIDR: ${text}`);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  const addr = octets.reduce((a, o) => ((a << 8) | o) >>> 0, 0);
  return { net: (addr & mask) >>> 0, mask };
}

/** True if two IPv4 CIDRs share an address. */
export function overlaps(a: string, b: string): boolean {
  const x = cidr(a);
  const y = cidr(b);
  const mask = (x.mask & y.mask) >>> 0;
  return (x.net & mask) >>> 0 === (y.net & mask) >>> 0;
}

/** Fails with a clear error if any of `ranges` overlaps a route or address already on this host. */
export async function assertRangesFree(ranges: string[]): Promise<void> {
  const { stdout: routes } = await run("ip", ["-4", "-o", "route", "show", "table", "all"]);
  const { stdout: addrs } = await run("ip", ["-4", "-o", "addr", "show"]);
  const used = [
    ...routes.split("\n").map((l) => l.split(" ")[0] ?? ""),
    ...addrs.split("\n").map((l) => /inet (\S+)/.exec(l)?.[1] ?? ""),
  ].filter((r) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(r) && r !== "0.0.0.0/0" && !r.startsWith("127."));
  for (const want of ranges) {
    const clash = used.find((u) => overlaps(u, want));
    if (clash) throw new Error(`e2e cluster: ${want} overlaps ${clash}, already on this host (ip route / ip addr)`);
  }
}

/** Creates bridge `name` holding `ip`/32, up. */
export async function createNodeBridge(name: string, ip: string): Promise<void> {
  await run("ip", ["link", "add", name, "type", "bridge"]);
  await run("ip", ["addr", "add", `${ip}/32`, "dev", name]);
  await run("ip", ["link", "set", name, "up"]);
}

/** The FORWARD rule's spec (without -I/-D): traffic between pods on `podBridge`, and nothing else. */
export function forwardRule(podBridge: string, comment: string): string[] {
  return ["-i", podBridge, "-o", podBridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"];
}

/** Inserts `rule` at the top of FORWARD. */
export async function addForwardRule(rule: string[]): Promise<void> {
  await run("iptables", ["-w", "5", "-I", "FORWARD", "1", ...rule]);
}
