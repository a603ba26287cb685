/**
 * What a cluster run changes outside its work dir, and how to undo it. `snapshotHost()` records the host's
 * state before the run; `sweepHost()` removes only what appeared since: container processes and shims of
 * our containerd, mounts under the work dir, new cni-* network namespaces, our bridges and their veths, our
 * FORWARD rule, new KUBE-* iptables chains (kube-proxy's and the kubelet's), the kubelet's dirs and
 * /var/log/containers links, new kubepods cgroups, and the kernel settings the kubelet changed. It is
 * synchronous so it also runs from process.on("exit"); every step is best effort and bounded.
 */

import { spawnSync } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** Host paths a run may create; each is removed afterwards only if it did not exist before. */
const CREATED_TREES = ["/var/lib/kubelet"]; // only the kubelet writes here: removed whole
const CREATED_DIRS = ["/var/log/containers", "/var/log/pods", "/var/lib/cni", "/run/containerd"]; // removed if empty
/** The kubelet's writes under /var/lib/kubelet when that dir already existed. */
const KUBELET_SUBDIRS = ["/var/lib/kubelet/device-plugins", "/var/lib/kubelet/pod-resources"];
/** Kernel settings the kubelet sets at start-up (protectKernelDefaults: false). */
const SYSCTLS = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops"];
const CGROUP_ROOT = "/sys/fs/cgroup";
const TABLES = ["filter", "nat", "mangle"];
const IPTABLES = ["iptables", "ip6tables"];

/** The host's state before a run. */
export interface HostSnapshot {
  netns: string[];
  existing: string[];
  /** `${binary} ${table} ${chain}` of every chain that existed. */
  chains: string[];
  sysctls: Record<string, string>;
  /** cgroup controllers that already had a kubepods cgroup. */
  kubepods: string[];
}

/** What sweepHost removes: the run's own names. */
export interface RunResources {
  dir: string;
  containerdSock: string;
  bridges: string[];
  /** The comment on our FORWARD rule (the rule is deleted by its spec). */
  forwardRule: string[];
  kubeProxy?: string;
  cniNetwork: string;
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function chains(): string[] {
  const out: string[] = [];
  for (const bin of IPTABLES) {
    for (const t of TABLES) {
      for (const line of sh(bin, ["-w", "5", "-t", t, "-S"]).out.split("\n")) {
        const m = /^-N (\S+)/.exec(line);
        if (m) out.push(`${bin} ${t} ${m[1]}`);
      }
    }
  }
  return out;
}

/** Records what exists before a run. */
export function snapshotHost(): HostSnapshot {
  const sysctls: Record<string, string> = {};
  for (const s of SYSCTLS) {
    try {
      sysctls[s] = readFileSync(`/proc/sys/${s}`, "utf8").trim();
    } catch {
      // not readable here: nothing to restore
    }
  }
  return {
    netns: list("/run/netns"),
    existing: [...CREATED_TREES, ...CREATED_DIRS, ...KUBELET_SUBDIRS].filter((p) => existsSync(p)),
    chains: chains(),
    sysctls,
    kubepods: list(CGROUP_ROOT).filter((c) => existsSync(join(CGROUP_ROOT, c, "kubepods"))),
  };
}

/** PIDs whose command line contains `needle`. */
function pidsWithArg(needle: string): number[] {
  const pids: number[] = [];
  for (const p of list("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(needle)) pids.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function kill(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Every cgroup dir under `dir`, deepest first. */
function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  for (const e of list(dir)) {
    const sub = join(dir, e);
    try {
      if (statSync(sub).isDirectory()) out.push(...cgroupTree(sub), sub);
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/** Kills the processes in our kubepods cgroups (pods' containers survive their shims) and removes them. */
function sweepCgroups(snap: HostSnapshot): void {
  const ours = list(CGROUP_ROOT).filter(
    (c) => !snap.kubepods.includes(c) && existsSync(join(CGROUP_ROOT, c, "kubepods")),
  );
  for (let round = 0; round < 3; round++) {
    for (const c of ours) {
      const root = join(CGROUP_ROOT, c, "kubepods");
      for (const g of [...cgroupTree(root), root]) {
        try {
          kill(readFileSync(join(g, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
        } catch {
          // no procs file
        }
      }
    }
    spawnSync("sleep", ["0.2"]);
    for (const c of ours) {
      const root = join(CGROUP_ROOT, c, "kubepods");
      for (const g of [...cgroupTree(root), root]) {
        try {
          rmdirSync(g);
        } catch {
          // busy or gone; retried
        }
      }
    }
  }
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const text = existsSync("/proc/self/mountinfo") ? readFileSync("/proc/self/mountinfo", "utf8") : "";
  const points = text
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function sweepIptables(snap: HostSnapshot, res: RunResources): void {
  for (let i = 0; i < 5 && sh("iptables", ["-w", "5", "-C", "FORWARD", ...res.forwardRule]).ok; i++) {
    sh("iptables", ["-w", "5", "-D", "FORWARD", ...res.forwardRule]);
  }
  // --cleanup removes every kube-proxy chain: only when there was no other kube-proxy's before us.
  const otherProxy = snap.chains.includes("iptables nat KUBE-SERVICES");
  if (res.kubeProxy && existsSync(res.kubeProxy) && !otherProxy) sh(res.kubeProxy, ["--cleanup"]);
  const before = new Set(snap.chains);
  const fresh = chains().filter((c) => !before.has(c) && /^(KUBE-|CNI-)/.test(c.split(" ")[2] ?? ""));
  for (const bin of IPTABLES) {
    for (const t of TABLES) {
      const mine = new Set(fresh.filter((c) => c.startsWith(`${bin} ${t} `)).map((c) => c.split(" ")[2] ?? ""));
      if (mine.size === 0) continue;
      // Rules elsewhere that jump to our chains go first, then the chains' own rules, then the chains.
      for (const line of sh(bin, ["-w", "5", "-t", t, "-S"]).out.split("\n")) {
        const m = /^-A (\S+) (.*)-j (\S+)/.exec(line);
        if (m && mine.has(m[3] ?? "") && !mine.has(m[1] ?? "")) {
          sh("sh", ["-c", `${bin} -w 5 -t ${t} ${line.replace(/^-A /, "-D ")}`]);
        }
      }
      for (const c of mine) sh(bin, ["-w", "5", "-t", t, "-F", c]);
      for (const c of mine) sh(bin, ["-w", "5", "-t", t, "-X", c]);
    }
  }
}

function sweepFiles(snap: HostSnapshot, res: RunResources): void {
  for (const l of list("/var/log/containers")) {
    const p = join("/var/log/containers", l);
    try {
      if (readlinkSync(p).startsWith(`${res.dir}/`)) unlinkSync(p);
    } catch {
      // not a link
    }
  }
  for (const f of list("/var/lib/cni/results")) {
    if (f.startsWith(`${res.cniNetwork}-`)) rmSync(join("/var/lib/cni/results", f), { force: true });
  }
  rmSync(join("/var/lib/cni/networks", res.cniNetwork), { recursive: true, force: true });
  const existed = new Set(snap.existing);
  const kubeletTreeIsOurs = !existed.has("/var/lib/kubelet");
  for (const p of kubeletTreeIsOurs ? CREATED_TREES : KUBELET_SUBDIRS) {
    if (!existed.has(p)) rmSync(p, { recursive: true, force: true });
  }
  for (const p of CREATED_DIRS) if (!existed.has(p)) removeEmptyTree(p);
}

/** Removes `dir` and its subdirs if they hold no files. */
function removeEmptyTree(dir: string): void {
  for (const e of list(dir)) {
    const p = join(dir, e);
    try {
      if (statSync(p).isDirectory()) removeEmptyTree(p);
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // not empty or gone: leave it
  }
}

/**
 * Undoes a run's host changes. Call after the cluster's own processes are stopped (containerd may still
 * run: its shims and containers are killed here). Returns what it could not remove, for error messages.
 */
export function sweepHost(snap: HostSnapshot, res: RunResources): string[] {
  kill(pidsWithArg(res.containerdSock)); // containerd and its shims (they name our socket in their args)
  sweepCgroups(snap);
  for (const m of mountsUnder(res.dir)) {
    if (!sh("umount", [m]).ok) sh("umount", ["-l", m]);
  }
  for (const n of list("/run/netns")) {
    if (n.startsWith("cni-") && !snap.netns.includes(n)) sh("ip", ["netns", "delete", n]);
  }
  for (const br of res.bridges) {
    for (const line of sh("ip", ["-o", "link", "show", "master", br]).out.split("\n")) {
      const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
      if (name) sh("ip", ["link", "delete", name]);
    }
    sh("ip", ["link", "delete", br]);
  }
  sweepIptables(snap, res);
  sweepFiles(snap, res);
  for (const [s, v] of Object.entries(snap.sysctls)) {
    try {
      if (readFileSync(`/proc/sys/${s}`, "utf8").trim() !== v) writeFileSync(`/proc/sys/${s}`, v);
    } catch {
      // read-only here
    }
  }
  rmSync(res.dir, { recursive: true, force: true });
  return leftovers(snap, res);
}

/** What of the run is still on the host (empty when the sweep was complete). */
export function leftovers(snap: HostSnapshot, res: RunResources): string[] {
  const left: string[] = [];
  if (existsSync(res.dir)) left.push(`dir ${res.dir}`);
  left.push(...mountsUnder(res.dir).map((m) => `mount ${m}`));
  left.push(...pidsWithArg(res.dir).map((p) => `process ${p}`));
  for (const br of res.bridges) if (sh("ip", ["link", "show", br]).ok) left.push(`link ${br}`);
  if (sh("iptables", ["-w", "5", "-C", "FORWARD", ...res.forwardRule]).ok) left.push("FORWARD rule");
  left.push(
    ...list("/run/netns")
      .filter((n) => n.startsWith("cni-") && !snap.netns.includes(n))
      .map((n) => `netns ${n}`),
  );
  const before = new Set(snap.chains);
  left.push(
    ...chains()
      .filter((c) => !before.has(c) && /^(KUBE-|CNI-)/.test(c.split(" ")[2] ?? ""))
      .map((c) => `chain ${c}`),
  );
  for (const p of [...CREATED_TREES, ...KUBELET_SUBDIRS]) {
    if (!snap.existing.includes(p) && existsSync(p)) left.push(`path ${p}`);
  }
  return left;
}
