/**
 * A client that keeps writing while the operator changes the cluster: unique keys, spread over the pods
 * that exist at the time, each write remembered once acknowledged. `verify` reads every acknowledged key
 * back (linearizable) and returns the ones that are missing or wrong.
 */

import type { OperatorWorld } from "./operator-fixture.ts";

/** A running write load. */
export interface ClientLoad {
  /** Stops writing; resolves when the last request is done. */
  stop(): Promise<void>;
  acked(): number;
  failed(): number;
  /** Acknowledged keys that read back wrong or missing, read through `pod`. */
  verify(pod: string): Promise<string[]>;
}

/** Starts writing `<prefix>-<n>` = n to the pods `pods()` names, one request at a time per writer. */
export function startClientLoad(
  w: OperatorWorld,
  raftkv: string,
  prefix: string,
  pods: () => string[],
  writers = 2,
): ClientLoad {
  const acked = new Map<string, number>();
  let failed = 0;
  let seq = 0;
  let running = true;
  const url = (pod: string) => w.runner.addressing({ namespace: w.namespace, raftkv, pod }).httpUrl;
  const writer = async (id: number) => {
    const deadline = Date.now() + 10 * 60_000; // bounded even if stop() is never called
    while (running && Date.now() < deadline) {
      const n = seq++;
      const key = `${prefix}-${n}`;
      const targets = pods();
      const pod = targets[(n + id) % Math.max(1, targets.length)];
      if (!pod) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        const res = await fetch(`${url(pod)}/key`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ [key]: n }),
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        if (res.status === 200) acked.set(key, n);
        else failed++;
      } catch {
        failed++; // outcome unknown: not counted as acknowledged
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const done = Promise.all(Array.from({ length: writers }, (_, i) => writer(i)));
  return {
    async stop() {
      running = false;
      await done;
    },
    acked: () => acked.size,
    failed: () => failed,
    async verify(pod: string) {
      const bad: string[] = [];
      for (const [key, n] of acked) {
        const res = await fetch(`${url(pod)}/key/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as Record<string, unknown>;
        if (res.status !== 200 || body[key] !== n) bad.push(`${key}: ${res.status} ${JSON.stringify(body)}`);
      }
      return bad;
    },
  };
}
