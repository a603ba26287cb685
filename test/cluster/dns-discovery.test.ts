/**
 * DNS discovery as on Kubernetes, for real: three processes named like
 * StatefulSet pods (`raftkv-0..2`) find each other through host names of a
 * "headless Service" (`<pod>.raftkv.test`). The names live in a network
 * namespace this test creates, whose /etc/hosts (`/etc/netns/<ns>/hosts`,
 * bind-mounted by `ip netns exec`) starts without one pod's name: nobody
 * may bootstrap until every expected name resolves. Every node listens on its
 * own 127.0.0.x address inside that namespace, with the same ports, as pods
 * do. Then the seed (ordinal 0) loses its disk and must rejoin the existing
 * cluster under a new incarnation instead of forming a second one.
 * Needs root and iproute2; skipped (with the reason) otherwise.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { waitFor } from "./harness.ts";

const MAIN = join(import.meta.dirname, "..", "..", "node", "src", "main.ts");
const SERVICE = "raftkv.test";
const ids = ["raftkv-0", "raftkv-1", "raftkv-2"];
const addr = (i: number) => `127.0.0.${10 + i}`;

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create a network namespace";
  if (spawnSync("ip", ["-V"]).status !== 0) return "needs iproute2 (ip)";
  if (spawnSync("curl", ["--version"]).status !== 0) return "needs curl";
  return undefined;
}

test("DNS discovery: pods wait for every name, bootstrap once, and a wiped seed rejoins", {
  timeout: 120_000,
  skip: unavailable(),
}, async (t) => {
  const ns = `raftkv-dns-${process.pid}`;
  const etc = `/etc/netns/${ns}`;
  const dir = mkdtempSync(join(tmpdir(), "raftkv-dns-"));
  const procs = new Map<number, ChildProcess>();
  const logs = new Map<number, string[]>();
  const sh = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  };
  const hosts = (present: number[]) =>
    writeFileSync(
      join(etc, "hosts"),
      `127.0.0.1 localhost\n${present.map((i) => `${addr(i)} ${ids[i]}.${SERVICE}`).join("\n")}\n`,
    );

  t.after(async () => {
    for (const p of procs.values()) p.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    spawnSync("ip", ["netns", "del", ns]);
    rmSync(etc, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  sh("ip", ["netns", "add", ns]);
  sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  mkdirSync(etc, { recursive: true });
  hosts([0, 2]); // raftkv-1 is not in DNS yet

  const start = (i: number) => {
    const env = {
      PATH: process.env.PATH ?? "",
      NODE_ID: ids[i] as string,
      STATE_DIR: join(dir, ids[i] as string),
      DISCOVERY: "dns",
      DISCOVERY_SERVICE: SERVICE,
      BOOTSTRAP_EXPECT: "3",
      HTTP_ADDR: addr(i),
      RAFT_ADDR: addr(i),
      HTTP_PORT: "11000",
      RAFT_PORT: "12000",
      RAFT_SECRET: "dns-secret",
      TICK_MS: "50",
    };
    const p = spawn("ip", ["netns", "exec", ns, process.execPath, MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = logs.get(i) ?? [];
    logs.set(i, lines);
    p.stdout?.on("data", (b: Buffer) => lines.push(...b.toString().split("\n").filter(Boolean)));
    p.stderr?.on("data", (b: Buffer) => lines.push(...b.toString().split("\n").filter(Boolean)));
    procs.set(i, p);
  };
  const curl = (i: number, method: string, path: string, body?: string) => {
    const args = ["netns", "exec", ns, "curl", "-s", "-m", "5", "-X", method, `http://${addr(i)}:11000${path}`];
    if (body !== undefined) args.push("-d", body);
    const r = spawnSync("ip", args, { encoding: "utf8" });
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  interface Status {
    state: string;
    leader: { id: string } | null;
    members: { id: string; role: string; incarnation: string; raftAddr: string }[];
  }
  const status = (i: number) => curl(i, "GET", "/status") as Status | undefined;

  for (const i of [1, 2, 0]) start(i);
  // Without raftkv-1's name nobody bootstraps: no leader appears.
  await new Promise((r) => setTimeout(r, 2500));
  for (const i of [0, 1, 2]) {
    assert.equal(
      status(i)?.leader ?? null,
      null,
      `${ids[i]} must wait for every name: ${JSON.stringify(status(i))} ${(logs.get(i) ?? []).slice(-5).join("\n")}`,
    );
  }
  await waitFor("the seed to log that it waits for DNS", 10_000, async () =>
    (logs.get(0) ?? []).some((l) => l.includes("waiting for peers to appear in DNS")) ? true : undefined,
  );

  hosts([0, 1, 2]);
  const leader = await waitFor("one leader with three voters", 30_000, async () => {
    const ss = [0, 1, 2].map(status);
    const lead = ss[0]?.leader?.id;
    if (!lead || !ss.every((s) => s?.leader?.id === lead)) return undefined;
    const voters = ss[0]?.members.filter((m) => m.role === "voter") ?? [];
    return voters.length === 3 ? lead : undefined;
  });
  assert.ok(ids.includes(leader));
  const members = status(1)?.members ?? [];
  for (const m of members) {
    assert.equal(m.raftAddr, `${m.id}.${SERVICE}:12000`, "Raft addresses are DNS names, never pod IPs");
  }
  const oldInc = members.find((m) => m.id === "raftkv-0")?.incarnation;

  assert.ok(curl(1, "POST", "/key", '{"cluster": "one"}'));
  await waitFor("the write on every node", 10_000, async () =>
    [0, 1, 2].every((i) => curl(i, "GET", "/key/cluster?consistency=stale")?.cluster === "one") ? true : undefined,
  );

  // The seed loses its volume and comes back under the same name.
  procs.get(0)?.kill("SIGKILL");
  await new Promise((r) => setTimeout(r, 300));
  rmSync(join(dir, "raftkv-0"), { recursive: true, force: true });
  const restartedAt = logs.get(0)?.length ?? 0;
  start(0);
  const rejoined = await waitFor("raftkv-0 back as a voter under a new incarnation", 40_000, async () => {
    const s = status(1);
    const m = s?.members.find((x) => x.id === "raftkv-0");
    return m && m.role === "voter" && m.incarnation !== oldInc && s?.leader ? s : undefined;
  });
  assert.equal(rejoined.members.filter((m) => m.role === "voter").length, 3);
  // One cluster: the seed sees the same leader and the data written before it lost its disk.
  await waitFor("raftkv-0 serves the old data", 20_000, async () =>
    curl(0, "GET", "/key/cluster?consistency=stale")?.cluster === "one" ? true : undefined,
  );
  assert.equal(status(0)?.leader?.id, status(2)?.leader?.id);
  const after = (logs.get(0) ?? []).slice(restartedAt);
  assert.ok(!after.some((l) => l.includes("bootstrapped a new cluster")), "the wiped seed did not bootstrap");
  assert.ok(
    after.some((l) => l.includes("joining it as a new member")),
    "it joined the cluster it found",
  );
});
