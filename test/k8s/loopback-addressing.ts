/**
 * The pod runner's stand-in for pod IPs and cluster DNS: every pod gets its own loopback address
 * 127.<a>.<b>.<ordinal+1>, where <a>.<b> is a hash of the namespace, the StatefulSet name and a salt of the
 * runner (so two runners in parallel test files rarely meet), made unique within the runner. Linux routes all
 * of 127.0.0.0/8 to the loopback interface, so every pod can bind the same container ports on its own IP.
 */

import { createHash } from "node:crypto";
import type { MemberAddresses } from "../../operator/src/members/pod-addressing.ts";

/** Default client and Raft ports of the node (its HTTP_PORT / RAFT_PORT defaults). */
export const DEFAULT_PORTS = { http: 11000, raft: 12000 } as const;

/** Splits `<set>-<ordinal>` (ordinal < 254, which fits the last octet) or answers the name as a set of one. */
export function splitPodName(pod: string): { set: string; ordinal: number | undefined } {
  const m = /^(.+)-(0|[1-9]\d{0,2})$/.exec(pod);
  if (m && Number(m[2]) < 254) return { set: m[1] as string, ordinal: Number(m[2]) };
  return { set: pod, ordinal: undefined };
}

/** Assigns and remembers loopback IPs and ports of pods. */
export class LoopbackAddresses {
  readonly #salt: string;
  /** `<ns>/<set>` -> [a, b] */
  readonly #blocks = new Map<string, [number, number]>();
  readonly #usedBlocks = new Set<string>();
  /** `<ns>/<pod>` -> ports seen in its container env. */
  readonly #ports = new Map<string, { http: number; raft: number }>();

  /** `salt` varies the addresses between runners. */
  constructor(salt: string) {
    this.#salt = salt;
  }

  /** The pod's loopback IP; the same for every call with the same namespace and pod name. */
  ip(namespace: string, pod: string): string {
    const { set, ordinal } = splitPodName(pod);
    const key = `${namespace}/${set}`;
    let block = this.#blocks.get(key);
    if (!block) {
      const h = createHash("sha256").update(`${this.#salt}\0${key}`).digest();
      // a in 1..254 keeps clear of 127.0.x.x, which other tests use.
      let n = (h.readUInt16BE(0) % 254) * 256 + (h[2] as number);
      while (this.#usedBlocks.has(String(n))) n = (n + 1) % (254 * 256);
      this.#usedBlocks.add(String(n));
      block = [1 + Math.floor(n / 256), n % 256];
      this.#blocks.set(key, block);
    }
    // A pod name without an ordinal takes the last address of its own block.
    return `127.${block[0]}.${block[1]}.${ordinal === undefined ? 254 : ordinal + 1}`;
  }

  /** Records the ports a pod's node listens on (when not the defaults). */
  setPorts(namespace: string, pod: string, ports: { http: number; raft: number }): void {
    this.#ports.set(`${namespace}/${pod}`, ports);
  }

  /** The pod's addresses as the operator should record and call them. */
  addresses(namespace: string, pod: string): MemberAddresses {
    const ip = this.ip(namespace, pod);
    const p = this.#ports.get(`${namespace}/${pod}`) ?? DEFAULT_PORTS;
    return { raftAddr: `${ip}:${p.raft}`, httpUrl: `http://${ip}:${p.http}` };
  }
}
