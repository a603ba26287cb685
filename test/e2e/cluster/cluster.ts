/**
 * A real single-node Kubernetes on this machine for the e2e tier, with no kind and no image registry:
 * etcd → kube-apiserver → kube-controller-manager + kube-scheduler → containerd (its own, beside Docker's)
 * → kubelet → kube-proxy (iptables), and CoreDNS on the host serving cluster.local only. The node address
 * sits on a bridge the harness creates; pod and Service ranges exist only inside this machine and no NAT
 * lets pod traffic out. One cluster per machine at a time (a lock file); stop() undoes everything, and so
 * does process exit or SIGINT/SIGTERM/SIGHUP if stop() never ran. See test/e2e/README.md.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, dumpYaml, KubeConfig } from "@kubernetes/client-node";
import { freePort } from "../../cluster/harness.ts";
import { httpOk, type KubectlResult, poll, runKubectl } from "../../k8s/control-plane.ts";
import { type Component, startComponent, stopComponent } from "../../k8s/control-plane-processes.ts";
import { e2eBinaries } from "./binaries.ts";
import {
  type ClusterPlan,
  cniConflist,
  containerdToml,
  corefile,
  kubeletConfig,
  kubeProxyConfig,
  paths,
  resolvConf,
} from "./config-files.ts";
import { ctr } from "./containerd.ts";
import { type HostSnapshot, type RunResources, snapshotHost, sweepHost } from "./host-cleanup.ts";
import { addForwardRule, assertRangesFree, createNodeBridge, forwardRule } from "./host-network.ts";
import { buildGoImage, PAUSE_IMAGE } from "./images.ts";
import { LocalVolumes } from "./local-volumes.ts";
import { acquireMachineLock, releaseMachineLock } from "./machine-lock.ts";
import { makeClusterPki } from "./pki.ts";

/** A running single-node cluster. */
export interface E2ECluster {
  /** The work dir (PKI, configs, etcd, containerd and kubelet state, logs in dir/logs). */
  dir: string;
  /** Path of an admin kubeconfig (system:masters). */
  kubeconfig: string;
  /** A KubeConfig loaded from `kubeconfig`. */
  kc: KubeConfig;
  /** The node's name and address (the API server is https://<nodeIp>:<port>). */
  nodeName: string;
  nodeIp: string;
  /** Runs kubectl as the admin; rejects only if it cannot run or exceeds `timeoutMs` (default 60 s). */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Imports an image archive (docker save / OCI layout tar) into containerd's k8s.io namespace. */
  importImage(tarPath: string): Promise<void>;
  /** Creates `count` local PersistentVolumes of `size` in StorageClass `local` (the default); returns names. */
  provideVolumes(count: number, size: string): Promise<string[]>;
  /** Seconds each start-up phase took, for reports. */
  timings: Record<string, number>;
  /** Stops everything and undoes every host change; idempotent. Rejects listing anything it left behind. */
  stop(): Promise<void>;
}

/** Options of startCluster. */
export interface ClusterOptions {
  /** Image archives to import before returning. */
  images?: string[];
}

const READY_TIMEOUT_MS = 90_000;
const NODE = "raftkv-e2e-node";
/** Private ranges no host network here uses (checked at start): node address, pods, Services. */
const NODE_IP = "10.241.0.1";
const CLUSTER_CIDR = "10.242.0.0/16";
const POD_SUBNET = "10.242.0.0/24";
const POD_GATEWAY = "10.242.0.1";
const SERVICE_CIDR = "10.243.0.0/24";

/** Starts the cluster; resolves once the node is Ready and the default ServiceAccount exists. */
export async function startCluster(opts: ClusterOptions = {}): Promise<E2ECluster> {
  const bins = await e2eBinaries();
  const pauseTar = await buildGoImage({ program: "pause", ref: PAUSE_IMAGE, user: "65535:65535" });
  await acquireMachineLock();
  const id = randomBytes(3).toString("hex");
  let cluster: LocalCluster | undefined;
  try {
    const dir = mkdtempSync(join(tmpdir(), "raftkv-e2e-"));
    const plan: ClusterPlan = {
      dir,
      nodeName: NODE,
      nodeIp: NODE_IP,
      nodeBridge: `rkvn${id}`,
      podBridge: `rkvp${id}`,
      podSubnet: POD_SUBNET,
      podGateway: POD_GATEWAY,
      clusterCidr: CLUSTER_CIDR,
      serviceCidr: SERVICE_CIDR,
      cniNetwork: `raftkv-e2e-${id}`,
      pauseImage: PAUSE_IMAGE,
      cniBinDir: bins.cniDir,
      ports: {
        etcdClient: await freePort(),
        etcdPeer: await freePort(),
        apiserver: await freePort(),
        kcm: await freePort(),
        scheduler: await freePort(),
        kubelet: await freePort(),
        kubeletHealthz: await freePort(),
        proxyHealthz: await freePort(),
        proxyMetrics: await freePort(),
        corednsReady: await freePort(),
      },
    };
    cluster = new LocalCluster(plan, bins.k8sDir, bins.coredns);
    await cluster.start(pauseTar, opts.images ?? []);
    return cluster;
  } catch (e) {
    if (cluster) await cluster.stop().catch(() => {});
    else releaseMachineLock();
    throw e;
  }
}

class LocalCluster implements E2ECluster {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly kc = new KubeConfig();
  readonly nodeName: string;
  readonly nodeIp: string;
  readonly timings: Record<string, number> = {};
  readonly #plan: ClusterPlan;
  readonly #bin: string;
  readonly #coredns: string;
  readonly #snapshot: HostSnapshot;
  readonly #resources: RunResources;
  readonly #components: Component[] = [];
  #volumes: LocalVolumes | undefined;
  #stopping: Promise<void> | undefined;
  readonly #onExit = () => this.#emergencyCleanup();
  readonly #onSignal = (signal: NodeJS.Signals) => {
    this.#emergencyCleanup();
    process.removeListener(signal, this.#onSignal);
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };

  constructor(plan: ClusterPlan, bin: string, coredns: string) {
    this.#plan = plan;
    this.#bin = bin;
    this.#coredns = coredns;
    this.dir = plan.dir;
    this.nodeName = plan.nodeName;
    this.nodeIp = plan.nodeIp;
    this.kubeconfig = join(plan.dir, "admin.kubeconfig");
    this.#snapshot = snapshotHost();
    this.#resources = {
      dir: plan.dir,
      containerdSock: paths(plan.dir).containerdSock,
      bridges: [plan.podBridge, plan.nodeBridge],
      forwardRule: forwardRule(plan.podBridge, plan.cniNetwork),
      cniNetwork: plan.cniNetwork,
    };
    // Before any process starts: whatever happens next, exit and signals undo it.
    process.on("exit", this.#onExit);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, this.#onSignal);
  }

  #start(name: string, bin: string, args: string[]): Component {
    const c = startComponent(name, bin, args, join(this.dir, "logs", `${name}.log`));
    this.#components.push(c);
    return c;
  }

  async #phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    const out = await fn();
    this.timings[name] = Math.round(performance.now() - t) / 1000;
    return out;
  }

  async start(pauseTar: string, images: string[]): Promise<void> {
    const p = this.#plan;
    const f = paths(p.dir);
    const t0 = performance.now();
    for (const d of [
      ...["logs", "config", "pki", "containerd"].map((d) => join(p.dir, d)),
      f.cniConfDir,
      f.kubeletRoot,
    ]) {
      mkdirSync(d, { recursive: true });
    }
    await assertRangesFree([`${p.nodeIp}/32`, p.clusterCidr, p.serviceCidr]);
    await createNodeBridge(p.nodeBridge, p.nodeIp);
    const apiServiceIp = p.serviceCidr.replace(/0\/\d+$/, "1");
    const pki = await makeClusterPki(join(p.dir, "pki"), p.nodeName, p.nodeIp, apiServiceIp);
    const server = `https://${p.nodeIp}:${p.ports.apiserver}`;
    const kubeconfig = (cert: string, key: string) => kubeconfigYaml(server, pki.pem.ca, cert, key);
    writeFileSync(this.kubeconfig, kubeconfig(pki.pem.adminCert, pki.pem.adminKey), { mode: 0o600 });
    const nodeKubeconfig = join(p.dir, "node.kubeconfig");
    writeFileSync(nodeKubeconfig, kubeconfig(readPem(pki.nodeCert), readPem(pki.nodeKey)), { mode: 0o600 });
    // CoreDNS and kube-proxy get their own files (admin credentials: these tests do not exercise their RBAC).
    const dnsKubeconfig = join(p.dir, "coredns.kubeconfig");
    writeFileSync(dnsKubeconfig, kubeconfig(pki.pem.adminCert, pki.pem.adminKey), { mode: 0o600 });
    this.kc.loadFromFile(this.kubeconfig);
    writeFileSync(f.containerdConfig, containerdToml(p));
    writeFileSync(join(f.cniConfDir, "10-raftkv-e2e.conflist"), cniConflist(p));
    const kubeletPki = { ca: pki.caCert, cert: pki.nodeCert, key: pki.nodeKey };
    writeFileSync(f.kubeletConfig, kubeletConfig(p, kubeletPki));
    writeFileSync(f.resolvConf, resolvConf(p));
    writeFileSync(f.proxyConfig, kubeProxyConfig(p, this.kubeconfig));
    writeFileSync(f.corefile, corefile(p, dnsKubeconfig));
    const bin = (b: string) => join(this.#bin, b);

    const etcdUrl = `http://127.0.0.1:${p.ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${p.ports.etcdPeer}`;
    await this.#phase("etcd", async () => {
      // biome-ignore format: flag per line
      const etcd = this.#start("etcd", bin("etcd"), [
        "--name=default", `--data-dir=${join(p.dir, "etcd")}`, "--unsafe-no-fsync",
        `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`, "--logger=zap", "--log-outputs=stderr",
      ]);
      await poll(etcd, "etcd to report healthy", 20_000, () => httpOk(`${etcdUrl}/health`));
    });
    await this.#phase("apiserver", async () => {
      // biome-ignore format: flag per line
      const api = this.#start("kube-apiserver", bin("kube-apiserver"), [
        `--etcd-servers=${etcdUrl}`,
        // The node address: reachable from the host and from pods (through the kubernetes Service), not off it.
        `--bind-address=${p.nodeIp}`, `--advertise-address=${p.nodeIp}`, `--secure-port=${p.ports.apiserver}`,
        `--cert-dir=${join(p.dir, "apiserver-certs")}`,
        `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`, "--anonymous-auth=false",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${p.serviceCidr}`,
        `--kubelet-client-certificate=${pki.adminCert}`, `--kubelet-client-key=${pki.adminKey}`,
        `--kubelet-certificate-authority=${pki.caCert}`, "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true", "--profiling=false",
        "--shutdown-watch-termination-grace-period=2s",
      ]);
      const tls = { ca: pki.pem.ca, cert: pki.pem.adminCert, key: pki.pem.adminKey };
      await poll(api, `kube-apiserver ${server}/readyz`, READY_TIMEOUT_MS, () => httpOk(`${server}/readyz`, tls));
    });
    // biome-ignore format: flag per line
    this.#start("kube-controller-manager", bin("kube-controller-manager"), [
      `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`, `--authorization-kubeconfig=${this.kubeconfig}`,
      "--leader-elect=false", "--controllers=*,-cloud-node-lifecycle", "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
      `--cluster-cidr=${p.clusterCidr}`, `--service-cluster-ip-range=${p.serviceCidr}`,
      `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
      "--bind-address=127.0.0.1", `--secure-port=${p.ports.kcm}`, `--cert-dir=${join(p.dir, "kcm-certs")}`,
    ]);
    // biome-ignore format: flag per line
    this.#start("kube-scheduler", bin("kube-scheduler"), [
      `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`, `--authorization-kubeconfig=${this.kubeconfig}`,
      "--leader-elect=false", "--bind-address=127.0.0.1", `--secure-port=${p.ports.scheduler}`,
      `--cert-dir=${join(p.dir, "scheduler-certs")}`,
    ]);
    await this.#phase("containerd", async () => {
      const c = this.#start("containerd", "/usr/bin/containerd", ["--config", f.containerdConfig]);
      await poll(c, "containerd to answer", 30_000, async () => {
        await ctr(f.containerdSock, ["version"]);
        return true;
      });
      for (const tar of [pauseTar, ...images]) await this.importImage(tar);
    });
    await addForwardRule(this.#resources.forwardRule);
    await this.#phase("coredns", async () => {
      const dns = this.#start("coredns", this.#coredns, ["-conf", f.corefile]);
      const ready = `http://127.0.0.1:${p.ports.corednsReady}/ready`;
      await poll(dns, "CoreDNS to be ready", READY_TIMEOUT_MS, () => httpOk(ready));
    });
    const core = this.kc.makeApiClient(CoreV1Api);
    await this.#phase("kubelet", async () => {
      // biome-ignore format: flag per line
      const kubelet = this.#start("kubelet", bin("kubelet"), [
        `--config=${f.kubeletConfig}`, `--kubeconfig=${nodeKubeconfig}`, `--root-dir=${f.kubeletRoot}`,
        `--hostname-override=${p.nodeName}`, `--node-ip=${p.nodeIp}`, "-v=1",
      ]);
      await poll(kubelet, `node ${p.nodeName} Ready`, READY_TIMEOUT_MS, async () => {
        const node = await core.readNode({ name: p.nodeName });
        return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
      });
    });
    this.#resources.kubeProxy = bin("kube-proxy");
    const proxy = this.#start("kube-proxy", bin("kube-proxy"), [`--config=${f.proxyConfig}`, "-v=1"]);
    await this.#phase("kube-proxy", () =>
      poll(proxy, "kube-proxy healthz", READY_TIMEOUT_MS, () =>
        httpOk(`http://127.0.0.1:${p.ports.proxyHealthz}/healthz`),
      ),
    );
    const kcm = this.#components.find((c) => c.name === "kube-controller-manager") as Component;
    // Pods are refused until the serviceaccount controller has made the namespace's default account.
    await poll(kcm, "the default ServiceAccount", READY_TIMEOUT_MS, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
      return true;
    });
    this.#volumes = new LocalVolumes(this.kc, f.volumes, p.nodeName);
    await this.#volumes.start();
    this.timings.total = Math.round(performance.now() - t0) / 1000;
  }

  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return runKubectl(join(this.#bin, "kubectl"), this.kubeconfig, args, opts);
  }

  async importImage(tarPath: string): Promise<void> {
    await ctr(paths(this.dir).containerdSock, ["-n", "k8s.io", "images", "import", tarPath]);
  }

  provideVolumes(count: number, size: string): Promise<string[]> {
    if (!this.#volumes) throw new Error("provideVolumes: the cluster has not started");
    return this.#volumes.provide(count, size);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#volumes?.stop();
    const alive = (name: string) => this.#components.some((c) => c.name === name && !c.exit);
    if (alive("kubelet") && alive("kube-apiserver")) {
      // Pods first, so the kubelet has containerd tear their sandboxes (and CNI veths and netns) down.
      const opts = { timeoutMs: 30_000 };
      await this.kubectl(["delete", "deploy,sts,rs,ds,job", "--all", "-A", "--wait=false"], opts).catch(() => {});
      await this.kubectl(["delete", "pods", "--all", "-A", "--grace-period=1", "--wait=false"], opts).catch(() => {});
      const core = this.kc.makeApiClient(CoreV1Api);
      for (let i = 0; i < 60; i++) {
        const pods = await core.listPodForAllNamespaces({}).catch(() => undefined);
        if (!pods || pods.items.length === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const order = ["kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "coredns"];
    for (const name of [...order, "kube-apiserver", "etcd"]) {
      for (const c of this.#components.filter((x) => x.name === name)) await stopComponent(c, 10_000);
    }
    const sock = paths(this.dir).containerdSock;
    if (alive("containerd")) {
      // Containers the kubelet did not remove: kill and delete them while containerd still runs.
      const tasks = await ctr(sock, ["-n", "k8s.io", "tasks", "ls", "-q"]).catch(() => "");
      for (const t of tasks.split("\n").filter(Boolean)) {
        await ctr(sock, ["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", t]).catch(() => {});
        await ctr(sock, ["-n", "k8s.io", "tasks", "rm", "-f", t]).catch(() => {});
      }
    }
    for (const c of this.#components) await stopComponent(c, 10_000);
    this.#detach();
    const left = sweepHost(this.#snapshot, this.#resources);
    releaseMachineLock();
    if (left.length > 0) throw new Error(`e2e cluster: teardown left behind: ${left.join(", ")}`);
  }

  #detach(): void {
    process.removeListener("exit", this.#onExit);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeListener(s, this.#onSignal);
  }

  /** Synchronous: kill every process, then undo host changes (used on exit and signals). */
  #emergencyCleanup(): void {
    this.#detach();
    for (const c of this.#components) {
      if (c.exit || c.proc.pid === undefined) continue;
      try {
        process.kill(-c.proc.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    sweepHost(this.#snapshot, this.#resources);
    releaseMachineLock();
  }
}

function readPem(path: string): string {
  return readFileSync(path, "utf8");
}

/** A kubeconfig for `server` with a client certificate. */
function kubeconfigYaml(server: string, ca: string, cert: string, key: string): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return dumpYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "raftkv-e2e", cluster: { server, "certificate-authority-data": b64(ca) } }],
    users: [{ name: "user", user: { "client-certificate-data": b64(cert), "client-key-data": b64(key) } }],
    contexts: [{ name: "raftkv-e2e", context: { cluster: "raftkv-e2e", user: "user" } }],
    "current-context": "raftkv-e2e",
  });
}
