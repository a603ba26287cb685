/**
 * The programs the e2e cluster runs: the Kubernetes binaries (scripts/k8s-binaries.sh, with the scheduler,
 * kubelet and kube-proxy), CoreDNS (scripts/coredns-binary.sh) and containerd, runc and the CNI plugins
 * from Debian (scripts/e2e-prereqs.sh). Each script builds or installs only what is missing.
 */

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..", "..");
const K8S = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"];
const BUILD_TIMEOUT_MS = 45 * 60_000;

/** Where each program is. */
export interface Binaries {
  /** Holds the Kubernetes binaries and etcd. */
  k8sDir: string;
  coredns: string;
  /** The CNI plugins' directory (Debian's containernetworking-plugins). */
  cniDir: string;
}

/** Runs a script; its progress (stderr) goes to ours; resolves with the last line of its stdout. */
function script(name: string, args: string[]): Promise<string> {
  const path = join(root, "scripts", name);
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: BUILD_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`${path} failed: ${err.message}`));
      resolve(stdout.trim().split("\n").at(-1) ?? "");
    }).stderr?.pipe(process.stderr);
  });
}

let memo: Promise<Binaries> | undefined;

/** Builds or installs what is missing (~2 min cold for the extra k8s binaries, ~5 for CoreDNS); memoized. */
export function e2eBinaries(): Promise<Binaries> {
  memo ??= (async () => {
    await script("e2e-prereqs.sh", []);
    // One at a time: both are Go builds on a shared 2-core machine.
    const k8sDir = await script("k8s-binaries.sh", K8S);
    const coredns = await script("coredns-binary.sh", []);
    const cniDir = "/usr/lib/cni";
    const missing = [...[...K8S, "etcd"].map((b) => join(k8sDir, b)), coredns, join(cniDir, "bridge")].filter(
      (p) => !existsSync(p),
    );
    if (missing.length > 0) throw new Error(`e2e binaries missing after the build: ${missing.join(", ")}`);
    return { k8sDir, coredns, cniDir };
  })().catch((e: unknown) => {
    memo = undefined;
    throw e;
  });
  return memo;
}
