/**
 * A client that keeps writing through the client Service while a journey disturbs the cluster: unique keys,
 * each remembered once acknowledged; `verify` reads every acknowledged key back (linearizable, served via
 * the leader) and returns the ones that are missing or wrong. Bounded in time even if stop() never runs.
 */

import { put, read } from "./world.ts";

/** A running write load. */
export interface Writer {
  /** Stops writing; resolves when the last request is done. */
  stop(): Promise<void>;
  acked(): number;
  failed(): number;
  /** Acknowledged keys that read back wrong or missing through `base`. */
  verify(base: string): Promise<string[]>;
}

/** Starts `writers` sequential writers of `<prefix>-<n>` = n to `base()` (http://host:port). */
export function startWriter(base: () => string, prefix: string, writers = 2): Writer {
  const acked = new Map<string, number>();
  let failed = 0;
  let seq = 0;
  let running = true;
  const deadline = Date.now() + 15 * 60_000;
  const loop = async () => {
    while (running && Date.now() < deadline) {
      const n = seq++;
      const key = `${prefix}-${n}`;
      try {
        if (await put(base(), key, n)) acked.set(key, n);
        else failed++;
      } catch {
        failed++; // outcome unknown: not counted as acknowledged
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const done = Promise.all(Array.from({ length: writers }, loop));
  return {
    async stop() {
      running = false;
      await done;
    },
    acked: () => acked.size,
    failed: () => failed,
    async verify(b: string) {
      const bad: string[] = [];
      const all = [...acked];
      // 16 reads at a time: an unthrottled load acknowledges thousands of keys.
      for (let i = 0; i < all.length; i += 16) {
        await Promise.all(
          all.slice(i, i + 16).map(async ([key, n]) => {
            const v = await read(b, key).catch((e: Error) => e.message);
            if (v !== n) bad.push(`${key}: ${JSON.stringify(v)}`);
          }),
        );
      }
      return bad;
    },
  };
}
