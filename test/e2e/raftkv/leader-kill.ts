/** A journey step: the leader dies; a survivor takes over, writes resume, the pod returns and catches up. */

import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { leaderOf, metricAt, podIps, serviceUrl, stableWith, statusAt, until, type World, waitRkv } from "./world.ts";
import { startWriter } from "./writer.ts";

/** Kills the leader with `kill`, checks a new leader, resumed writes, the pod's return and catch-up. */
export async function leaderKilled(w: World, how: string, kill: (pod: V1Pod) => Promise<void>): Promise<void> {
  const old = await leaderOf(w, "demo");
  const survivors = [...(await podIps(w, "demo"))].filter(([p]) => p !== old.pod).map(([, ip]) => ip);
  const changesBefore = await metricAt(survivors[0] as string, "raftkv_leader_changes_total");
  const svc = await serviceUrl(w, "demo");
  const writer = startWriter(() => svc, `kill-${how}`);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const pod = await w.core.readNamespacedPod({ name: old.pod, namespace: w.ns });
    await kill(pod);
    const next = await until("a new leader among the survivors", 60_000, async () => {
      for (const ip of survivors) {
        const s = await statusAt(ip).catch(() => undefined);
        if (s?.state === "leader" && s.id !== old.pod) return s;
      }
      return undefined;
    });
    assert.ok(next.term > old.status.term, "the new leader has a higher term");
    const ackedAtTakeover = writer.acked();
    await until("writes to resume", 30_000, async () => (writer.acked() > ackedAtTakeover + 5 ? true : undefined));
    await waitRkv(w, "demo", `${old.pod} back and healthy`, 180_000, stableWith(3));
    const back = await podIps(w, "demo");
    const leader = await leaderOf(w, "demo");
    await until(`${old.pod} to catch up`, 30_000, async () => {
      const s = await statusAt(back.get(old.pod) as string);
      return s.appliedIndex >= leader.status.commitIndex ? true : undefined;
    });
    const changesAfter = await metricAt(survivors[0] as string, "raftkv_leader_changes_total");
    assert.ok(changesAfter > changesBefore, `raftkv_leader_changes_total rose (${changesBefore} -> ${changesAfter})`);
  } finally {
    await writer.stop();
  }
  assert.deepEqual(await writer.verify(svc), [], "acknowledged writes lost");
  const claim = await w.core.readNamespacedPersistentVolumeClaim({ name: `data-${old.pod}`, namespace: w.ns });
  assert.equal(claim.status?.phase, "Bound", "the pod came back on its own claim");
  console.log(`# leader ${old.pod} killed (${how}): ${writer.acked()} writes acknowledged, ${writer.failed()} failed`);
}
