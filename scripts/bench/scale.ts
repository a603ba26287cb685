/** Scale (1 million keys, snapshot, a new member catching up, RSS) and fail-over measurements of raftkv. */

import { execFileSync } from "node:child_process";
import { Agent } from "node:http";
import { join } from "node:path";
import { valueFor } from "./load.ts";
import { SCALE_KEYS } from "./options.ts";
import { Raftkv } from "./raftkv.ts";
import { ctlAgent, http, sleep, waitFor } from "./util.ts";

/** Loads SCALE_KEYS keys, then measures snapshot, a new member catching up, and RSS; the report lines. */
export async function scale(): Promise<string[]> {
  const lines: string[] = [];
  const s = await Raftkv.create(3, { SNAPSHOT_THRESHOLD: "8192" });
  try {
    const leader = await s.leader();
    const perReq = 100;
    const clients = 32;
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const port = s.ports[leader] as number;
    let next = 0;
    let retries = 0;
    let slowest = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (;;) {
          const from = next;
          next += perReq;
          if (from >= SCALE_KEYS) return;
          const kv: Record<string, string> = {};
          for (let k = from; k < Math.min(SCALE_KEYS, from + perReq); k++)
            kv[`scale/${k}`] = valueFor(`scale/${k}`, 100);
          // Sets are idempotent: a write whose outcome is unknown (503) is sent again.
          for (let attempt = 0; ; attempt++) {
            const w0 = performance.now();
            const r = await http(agent, port, "POST", "/key", JSON.stringify(kv), 60_000);
            slowest = Math.max(slowest, performance.now() - w0);
            if (r.status === 200) break;
            if (r.status !== 503 || attempt >= 20) throw new Error(`scale load: HTTP ${r.status} ${r.body}`);
            retries++;
            await sleep(100);
          }
        }
      }),
    );
    agent.destroy();
    const loadS = (performance.now() - t0) / 1000;
    lines.push(
      `load ${SCALE_KEYS.toLocaleString("en")} keys (100-byte values, ${perReq} keys per write, ${clients} clients): ${loadS.toFixed(1)} s, ${Math.round(SCALE_KEYS / loadS).toLocaleString("en")} keys/s; slowest write ${(slowest / 1000).toFixed(1)} s, ${retries} writes retried after 503`,
    );
    // Snapshots taken during the load: local ones every SNAPSHOT_THRESHOLD entries, full ones only for a follower.
    const metricsOf = async (i: number) => (await http(ctlAgent, s.ports[i] as number, "GET", "/metrics")).body;
    const snapLine = (txt: string, kind: string) => {
      const sum = Number(
        new RegExp(`^raftkv_snapshot_seconds_sum\\{kind="${kind}"\\} (\\S+)`, "m").exec(txt)?.[1] ?? 0,
      );
      const count = Number(
        new RegExp(`^raftkv_snapshot_seconds_count\\{kind="${kind}"\\} (\\S+)`, "m").exec(txt)?.[1] ?? 0,
      );
      return `${count}, mean ${((sum / Math.max(1, count)) * 1000).toFixed(0)} ms each`;
    };
    const lm = await metricsOf(leader);
    const st = await s.status(leader);
    lines.push(
      `snapshots on the leader: local ${snapLine(lm, "local")}; full ${snapLine(lm, "create")}; last at index ${st?.snapshotIndex} of ${st?.commitIndex}`,
    );
    const dirSize = (d: string) => Number(execFileSync("du", ["-sb", d], { encoding: "utf8" }).split("\t")[0]);
    for (const i of s.running())
      lines.push(
        `${s.ids[i]}: RSS ${(s.rss(i) / 2 ** 20).toFixed(0)} MiB, STATE_DIR ${(dirSize(join(s.dir, s.ids[i] as string)) / 2 ** 20).toFixed(0)} MiB`,
      );
    // A new member catches up from the snapshot.
    const n = await s.addSlot();
    const target = Number(st?.commitIndex ?? 0);
    const t1 = performance.now();
    // The old members keep their PEERS; the new one lists everyone and asks the leader to add it.
    s.start(n, s.ids.length);
    await waitFor("the new member to catch up", 600_000, async () => {
      const ns = await s.status(n);
      return Number(ns?.appliedIndex ?? 0) >= target ? true : undefined;
    });
    const catchS = (performance.now() - t1) / 1000;
    const snapBytes = dirSize(join(s.dir, s.ids[n] as string));
    lines.push(
      `new member ${s.ids[n]} started, added and caught up to index ${target}: ${catchS.toFixed(1)} s (its STATE_DIR ${(snapBytes / 2 ** 20).toFixed(0)} MiB, RSS ${(s.rss(n) / 2 ** 20).toFixed(0)} MiB)`,
    );
    lines.push(`full snapshots on the leader, made for it: ${snapLine(await metricsOf(leader), "create")}`);
    const mm = await metricsOf(n);
    const rs = Number(/^raftkv_snapshot_seconds_sum\{kind="restore"\} (\S+)/m.exec(mm)?.[1] ?? 0);
    lines.push(`snapshot restore on the new member: ${(rs * 1000).toFixed(0)} ms`);
  } finally {
    await s.stop();
  }
  return lines;
}

/** Milliseconds from kill -9 of the leader to the first acknowledged write, per repeat. */
export async function failover(sys: Raftkv, repeats: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const leader = await sys.leader();
    const others = sys.running().filter((i) => i !== leader);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // Warm connections to the survivors.
    for (const i of others) await http(agent, sys.ports[i] as number, "GET", "/livez");
    const t0 = performance.now();
    sys.procs[leader]?.proc.kill("SIGKILL");
    let k = 0;
    for (;;) {
      const i = others[k++ % others.length] as number;
      try {
        const req = sys.put(`failover/${r}`, "v");
        const res = await http(agent, sys.ports[i] as number, req.method, req.path, req.body, 1000);
        if (res.status === 200) break;
        await sleep(5);
      } catch {
        await sleep(5);
      }
      if (performance.now() - t0 > 30_000) throw new Error("no write acknowledged within 30 s of killing the leader");
    }
    times.push(performance.now() - t0);
    agent.destroy();
    await sys.procs[leader]?.exit;
    sys.start(leader);
    await waitFor("the old leader to rejoin", 30_000, async () => {
      const st = await sys.status(leader);
      return st?.leader && Number(st.appliedIndex) >= Number(st.commitIndex) ? true : undefined;
    });
  }
  return times;
}
