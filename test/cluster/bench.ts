/**
 * A quick write benchmark of a local 3-node cluster (LevelDB, real fsync):
 * single-client latency, then throughput with many concurrent clients.
 *
 *   node test/cluster/bench.ts [clients=64] [seconds=5]
 */
import type { TestContext } from "node:test";
import { TestCluster } from "./harness.ts";

const clients = Number(process.argv[2] ?? 64);
const seconds = Number(process.argv[3] ?? 5);
const cleanups: Array<() => Promise<void> | void> = [];
const t = { after: (f: () => Promise<void>) => cleanups.push(f), passed: true } as unknown as TestContext;

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

try {
  const c = await TestCluster.create(t, { size: 3, secret: "bench", env: { TICK_MS: "100", LOG_LEVEL: "warn" } });
  c.startAll();
  const leader = await c.waitLeader();
  const url = `http://127.0.0.1:${c.nodes[leader]?.httpPort}/key`;
  const put = async (k: string, v: number) => {
    const r = await fetch(url, { method: "POST", body: JSON.stringify({ [k]: v }) });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  };
  for (let i = 0; i < 50; i++) await put(`warm${i}`, i);

  const lat: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t0 = performance.now();
    await put(`single${i}`, i);
    lat.push(performance.now() - t0);
  }
  lat.sort((a, b) => a - b);
  console.log(
    `single client, 500 writes: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, mean ${(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(2)} ms`,
  );

  let done = 0;
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  const many: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        try {
          await put(`c${w}-${i}`, i);
          done++;
          many.push(performance.now() - t0);
        } catch {
          failed++;
        }
      }
    }),
  );
  many.sort((a, b) => a - b);
  console.log(
    `${clients} clients, ${seconds} s: ${(done / seconds).toFixed(0)} writes/s, p50 ${pct(many, 50).toFixed(1)} ms, p99 ${pct(many, 99).toFixed(1)} ms, ${failed} failed`,
  );
  const m = await c.http(leader, "GET", "/metrics");
  const fsyncs = /^raftkv_fsync_seconds_count (\d+)/m.exec(String(m.body))?.[1];
  const commits = /^raftkv_proposals_total\{result="committed"\} (\d+)/m.exec(String(m.body))?.[1];
  console.log(`leader: ${commits} proposals committed with ${fsyncs} synced writes (group commit)`);
} finally {
  for (const f of cleanups) await f();
}
