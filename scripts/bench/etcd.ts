/** A 3-member etcd cluster on loopback (Debian's etcd-server, JSON gateway), as a system under test. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { System } from "./system.ts";
import { b64, ctlAgent, freePort, http, type Proc, startProc, stopProc, waitFor } from "./util.ts";

/** Three etcd members with their JSON gateway; started by create(). */
export class Etcd implements System {
  name = "etcd";
  ports: number[] = [];
  procs: Proc[] = [];
  dir = mkdtempSync(join(tmpdir(), "etcd-bench-"));

  static async create(n: number): Promise<Etcd> {
    const s = new Etcd();
    const peerPorts: number[] = [];
    for (let i = 0; i < n; i++) {
      s.ports.push(await freePort());
      peerPorts.push(await freePort());
    }
    const cluster = peerPorts.map((p, i) => `e${i + 1}=http://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < n; i++) {
      s.procs.push(
        startProc(
          "etcd",
          [
            "--name",
            `e${i + 1}`,
            "--data-dir",
            join(s.dir, `e${i + 1}`),
            "--listen-client-urls",
            `http://127.0.0.1:${s.ports[i]}`,
            "--advertise-client-urls",
            `http://127.0.0.1:${s.ports[i]}`,
            "--listen-peer-urls",
            `http://127.0.0.1:${peerPorts[i]}`,
            "--initial-advertise-peer-urls",
            `http://127.0.0.1:${peerPorts[i]}`,
            "--initial-cluster",
            cluster,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "bench",
          ],
          { PATH: process.env.PATH ?? "", ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch },
        ),
      );
    }
    await s.leader();
    return s;
  }

  async memberStatus(i: number): Promise<{ leader: string; member: string } | undefined> {
    try {
      const r = await http(ctlAgent, this.ports[i] as number, "POST", "/v3/maintenance/status", "{}", 2000);
      if (r.status !== 200) return undefined;
      const j = JSON.parse(r.body) as { leader?: string; header?: { member_id?: string } };
      return j.leader && j.leader !== "0" ? { leader: j.leader, member: j.header?.member_id ?? "" } : undefined;
    } catch {
      return undefined;
    }
  }

  async leader(): Promise<number> {
    return waitFor("an etcd leader", 30_000, async () => {
      const sts = await Promise.all(this.ports.map((_, i) => this.memberStatus(i)));
      if (sts.some((s) => s === undefined)) return undefined;
      const i = sts.findIndex((s) => s?.member === s?.leader);
      return i >= 0 ? i : undefined;
    });
  }

  async follower(): Promise<number> {
    const l = await this.leader();
    return (l + 1) % this.ports.length;
  }

  put(key: string, value: string) {
    return { method: "POST", path: "/v3/kv/put", body: JSON.stringify({ key: b64(key), value: b64(value) }) };
  }
  get(key: string, stale: boolean) {
    return {
      method: "POST",
      path: "/v3/kv/range",
      body: stale ? JSON.stringify({ key: b64(key), serializable: true }) : JSON.stringify({ key: b64(key) }),
    };
  }
  pids(): number[] {
    return this.procs.map((p) => p.proc.pid as number);
  }

  value(body: string): string | undefined {
    const kvs = (JSON.parse(body) as { kvs?: Array<{ value?: string }> }).kvs;
    const v = kvs?.[0]?.value;
    return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProc(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
