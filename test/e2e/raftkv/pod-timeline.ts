/**
 * Watches a RaftKV's pods while a journey runs (polling every 200 ms): the fewest Ready members seen, the
 * order in which pods were replaced (new uid), and a timeline of every change of a pod's uid, Ready
 * condition, deletion mark and /status answer, for failure messages and reports.
 */

import { isReady, podsOf, sleep, statusAt, type World } from "./world.ts";

/** A running watch. */
export interface PodTimeline {
  /** Stops watching; resolves when the last poll is done. */
  stop(): Promise<void>;
  /** The fewest Ready pods among the `members` ordinals seen at once. */
  minReady(): number;
  /** Pods whose uid changed, in the order first seen. */
  replaced(): string[];
  /** One line per change: `+<seconds> <pod> uid=<short> ready=<bool> deleting=<bool> status=<state|->`. */
  lines(): string[];
}

/** Starts watching the pods of `raftkv` (expecting `members` of them). */
export function watchPods(w: World, raftkv: string, members: number): PodTimeline {
  const t0 = Date.now();
  const firstUid = new Map<string, string>();
  const last = new Map<string, string>();
  const replaced: string[] = [];
  const lines: string[] = [];
  let minReady = members;
  let running = true;
  const deadline = t0 + 15 * 60_000;
  const done = (async () => {
    while (running && Date.now() < deadline) {
      const pods = await podsOf(w, raftkv).catch(() => undefined);
      if (pods) {
        const ready = pods.filter((p) => isReady(p) && !p.metadata?.deletionTimestamp).length;
        minReady = Math.min(minReady, ready);
        for (const p of pods) {
          const name = p.metadata?.name ?? "";
          const uid = p.metadata?.uid ?? "";
          if (!firstUid.has(name)) firstUid.set(name, uid);
          else if (firstUid.get(name) !== uid && !replaced.includes(name)) replaced.push(name);
          const ip = p.status?.podIP;
          const s = ip ? await statusAt(ip).catch(() => undefined) : undefined;
          const state = `uid=${uid.slice(0, 8)} ready=${isReady(p)} deleting=${Boolean(p.metadata?.deletionTimestamp)} status=${s?.state ?? "-"}`;
          if (last.get(name) !== state) {
            last.set(name, state);
            lines.push(`+${((Date.now() - t0) / 1000).toFixed(1)} ${name} ${state} (ready pods: ${ready})`);
          }
        }
      }
      await sleep(200);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
    minReady: () => minReady,
    replaced: () => [...replaced],
    lines: () => [...lines],
  };
}
