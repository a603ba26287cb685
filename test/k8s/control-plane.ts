/**
 * A real Kubernetes control plane for the k8s test tier, envtest style: etcd, kube-apiserver (client
 * certificates, RBAC, service-account tokens) and, by default, kube-controller-manager with the controllers
 * the operator relies on. Everything listens on 127.0.0.1 only and lives in one temp dir.
 *
 * The first start in a fresh cache builds the binaries (scripts/k8s-binaries.sh, ~5-10 min cold), so a
 * test file's `before` hook should allow 40 min: `before(async () => {...}, { timeout: 40 * 60_000 })`.
 */

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, dumpYaml, KubeConfig } from "@kubernetes/client-node";
import { freePort } from "../cluster/harness.ts";
import { makePki, type Pki } from "./control-plane-pki.ts";
import {
  type Component,
  cleanupDirOnExit,
  componentError,
  forgetDir,
  startComponent,
  stopComponent,
} from "./control-plane-processes.ts";

/** A running control plane. */
export interface ControlPlane {
  /** Its temp work dir (certs, etcd data, logs). */
  dir: string;
  /** Where kube-apiserver, kube-controller-manager, kubectl and etcd are. */
  binDir: string;
  /** Path of an admin kubeconfig file (a system:masters client certificate). */
  kubeconfig: string;
  /** A KubeConfig loaded from `kubeconfig`. */
  kc: KubeConfig;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Runs kubectl as the admin; rejects only if it cannot run or exceeds `timeoutMs` (default 60 s). */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Stops kube-apiserver and starts it again on the same port; resolves once /readyz answers. */
  restartApiServer(): Promise<void>;
  /** Writes a kubeconfig for a bearer token, or for a ServiceAccount (a token from the TokenRequest API). */
  kubeconfigFor(user: { token: string } | { namespace: string; serviceAccount: string }): Promise<string>;
  /** Stops everything and removes `dir`; idempotent. */
  stop(): Promise<void>;
}

/** What a kubectl run printed and how it exited. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of startControlPlane. */
export interface ControlPlaneOptions {
  /** Run kube-controller-manager (default true). */
  controllerManager?: boolean;
  /** Its --controllers list (default DEFAULT_CONTROLLERS). */
  controllers?: string[];
}

/**
 * The kube-controller-manager controllers the operator tests need (v1.34 names). The statefulset controller
 * creates the PVCs itself; pvc-protection removes the kubernetes.io/pvc-protection finalizer so they can go.
 */
export const DEFAULT_CONTROLLERS: readonly string[] = [
  "garbage-collector-controller",
  "namespace-controller",
  "statefulset-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "root-ca-certificate-publisher-controller",
  "disruption-controller",
  "persistentvolumeclaim-protection-controller",
];

const root = join(import.meta.dirname, "..", "..");
const BINARIES = ["kube-apiserver", "kube-controller-manager", "kubectl", "etcd"];
const BUILD_TIMEOUT_MS = 45 * 60_000;
const READY_TIMEOUT_MS = 60_000;
/** Private to these tests: no real cluster's services live here. */
const SERVICE_CIDR = "10.233.0.0/24";

let binaries: Promise<string> | undefined;

/**
 * The directory holding the binaries: runs scripts/k8s-binaries.sh (which honours KUBEBUILDER_ASSETS, else
 * builds into its cache, waiting for a build already running). Memoized per process; may take ~10 min cold.
 */
export function k8sBinaries(): Promise<string> {
  binaries ??= runBinariesScript().catch((e: unknown) => {
    binaries = undefined;
    throw e;
  });
  return binaries;
}

function runBinariesScript(): Promise<string> {
  const script = join(root, "scripts", "k8s-binaries.sh");
  return new Promise((resolve, reject) => {
    // Progress (stderr) goes straight to ours, so a cold build shows what it is doing.
    execFile(script, [], { timeout: BUILD_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`${script} failed: ${err.message}`));
      const dir = stdout.trim().split("\n").at(-1) ?? "";
      const missing = BINARIES.filter((b) => !existsSync(join(dir, b)));
      if (!dir || missing.length > 0) {
        return reject(new Error(`${script} printed ${JSON.stringify(dir)}, which lacks ${missing.join(", ")}`));
      }
      resolve(dir);
    }).stderr?.pipe(process.stderr);
  });
}

/** Starts etcd, kube-apiserver and (unless told not to) kube-controller-manager; see ControlPlane. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = await k8sBinaries();
  const dir = mkdtempSync(join(tmpdir(), "raftkv-k8s-"));
  cleanupDirOnExit(dir);
  const cp = new LocalControlPlane(binDir, dir);
  try {
    await cp.start(opts.controllerManager ?? true, opts.controllers ?? [...DEFAULT_CONTROLLERS]);
  } catch (e) {
    await cp.stop();
    throw e;
  }
  return cp;
}

class LocalControlPlane implements ControlPlane {
  readonly dir: string;
  readonly binDir: string;
  readonly kubeconfig: string;
  kc = new KubeConfig();
  server = "";
  #pki: Pki | undefined;
  #etcd: Component | undefined;
  #apiserver: Component | undefined;
  #kcm: Component | undefined;
  #apiserverArgs: string[] = [];
  #stopping: Promise<void> | undefined;
  #kubeconfigs = 0;

  constructor(binDir: string, dir: string) {
    this.binDir = binDir;
    this.dir = dir;
    this.kubeconfig = join(dir, "admin.kubeconfig");
  }

  get #certs(): Pki {
    if (!this.#pki) throw new Error("the control plane has not started");
    return this.#pki;
  }

  async start(controllerManager: boolean, controllers: string[]): Promise<void> {
    const pkiDir = join(this.dir, "pki");
    mkdirSync(pkiDir);
    this.#pki = await makePki(pkiDir);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    this.server = `https://127.0.0.1:${apiPort}`;

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    // biome-ignore format: flag per line
    this.#etcd = startComponent("etcd", join(this.binDir, "etcd"), [
      "--name=default", `--data-dir=${join(this.dir, "etcd")}`, "--unsafe-no-fsync",
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`, "--logger=zap", "--log-outputs=stderr",
    ], join(this.dir, "etcd.log"));
    const etcd = this.#etcd;
    await poll(etcd, "etcd to report healthy", 20_000, () => httpOk(`${etcdUrl}/health`));

    const p = this.#pki;
    // biome-ignore format: flag per line
    this.#apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
      `--cert-dir=${join(this.dir, "apiserver-certs")}`,
      `--tls-cert-file=${p.servingCert}`, `--tls-private-key-file=${p.servingKey}`,
      `--client-ca-file=${p.caCert}`, "--anonymous-auth=false",
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${p.saPub}`, `--service-account-signing-key-file=${p.saKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      // The lease reconciler would publish 127.0.0.1 as the kubernetes Service's endpoint, which validation refuses.
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      // Open watches (the controller manager's, informers) otherwise keep a SIGTERMed server up for 20+ s.
      "--shutdown-watch-termination-grace-period=2s",
    ];
    await this.#startApiServer();
    this.#writeKubeconfig(this.kubeconfig, "admin", {
      "client-certificate-data": b64(p.pem.adminCert),
      "client-key-data": b64(p.pem.adminKey),
    });
    this.kc.loadFromFile(this.kubeconfig);

    if (!controllerManager) return;
    const kcmPort = await freePort();
    // biome-ignore format: flag per line
    this.#kcm = startComponent("kube-controller-manager", join(this.binDir, "kube-controller-manager"), [
      `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`, `--authorization-kubeconfig=${this.kubeconfig}`,
      "--leader-elect=false", `--controllers=${controllers.join(",")}`,
      `--service-account-private-key-file=${p.saKey}`, `--root-ca-file=${p.caCert}`,
      "--bind-address=127.0.0.1", `--secure-port=${kcmPort}`, `--cert-dir=${join(this.dir, "kcm-certs")}`,
    ], join(this.dir, "kube-controller-manager.log"));
    const kcm = this.#kcm;
    const core = this.kc.makeApiClient(CoreV1Api);
    // The namespace's default ServiceAccount is what the serviceaccount controller makes first; pods need it.
    await poll(kcm, "the default ServiceAccount in namespace default", READY_TIMEOUT_MS, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
      return true;
    });
  }

  async #startApiServer(): Promise<void> {
    const c = startComponent(
      "kube-apiserver",
      join(this.binDir, "kube-apiserver"),
      this.#apiserverArgs,
      join(this.dir, "kube-apiserver.log"),
    );
    this.#apiserver = c;
    const p = this.#certs;
    const tls = { ca: p.pem.ca, cert: p.pem.adminCert, key: p.pem.adminKey };
    await poll(c, `kube-apiserver ${this.server}/readyz`, READY_TIMEOUT_MS, () => httpOk(`${this.server}/readyz`, tls));
  }

  async restartApiServer(): Promise<void> {
    if (this.#stopping) throw new Error("the control plane is stopped");
    if (this.#apiserver) await stopComponent(this.#apiserver, 20_000);
    await this.#startApiServer();
  }

  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return runKubectl(join(this.binDir, "kubectl"), this.kubeconfig, args, opts);
  }

  async kubeconfigFor(user: { token: string } | { namespace: string; serviceAccount: string }): Promise<string> {
    const file = join(this.dir, `user-${++this.#kubeconfigs}.kubeconfig`);
    if ("token" in user) {
      if (!user.token) throw new Error("kubeconfigFor: empty token");
      this.#writeKubeconfig(file, "token-user", { token: user.token });
      return file;
    }
    const { namespace, serviceAccount } = user;
    if (!namespace || !serviceAccount) throw new Error("kubeconfigFor: namespace and serviceAccount are required");
    const core = this.kc.makeApiClient(CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 86_400 } },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
    this.#writeKubeconfig(file, `system:serviceaccount:${namespace}:${serviceAccount}`, { token }, namespace);
    return file;
  }

  #writeKubeconfig(file: string, userName: string, user: Record<string, string>, namespace?: string): void {
    const config = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "raftkv-test",
          cluster: { server: this.server, "certificate-authority-data": b64(this.#certs.pem.ca) },
        },
      ],
      users: [{ name: userName, user }],
      contexts: [{ name: "raftkv-test", context: { cluster: "raftkv-test", user: userName, namespace } }],
      "current-context": "raftkv-test",
    };
    writeFileSync(file, dumpYaml(config), { mode: 0o600 });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // The API server before etcd: without etcd it takes ~15 s to give up.
      if (this.#kcm) await stopComponent(this.#kcm, 5_000);
      if (this.#apiserver) await stopComponent(this.#apiserver, 10_000);
      if (this.#etcd) await stopComponent(this.#etcd, 5_000);
      rmSync(this.dir, { recursive: true, force: true });
      forgetDir(this.dir);
    })();
    return this.#stopping;
  }
}

/** Runs `kubectl` with KUBECONFIG=`kubeconfig`; rejects only if it cannot run or exceeds `timeoutMs` (default 60 s). */
export function runKubectl(
  kubectl: string,
  kubeconfig: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<KubectlResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, args, {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`kubectl ${args.join(" ")} took over ${timeoutMs} ms; stderr so far: ${stderr}`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`kubectl ${args.join(" ")}: ${err.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on("error", () => {}); // kubectl may exit before reading its input; its exit code says why
    child.stdin.end(opts.input ?? "");
  });
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** Polls `check` every 100 ms until it returns true; fails early if `c` exits, with its log's tail. */
export async function poll(c: Component, what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    if (c.exit) throw componentError(c, `${c.name} exited while waiting for ${what}`);
    try {
      if (await check()) return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw componentError(c, `timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

/** True if GET `url` answers 200 within 2 s; rejects with the failing /readyz checks otherwise. */
export function httpOk(url: string, tls?: { ca: string; cert: string; key: string }): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, { timeout: 2_000, ...tls }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      res.once("end", () => {
        if (res.statusCode === 200) return resolve(true);
        // /readyz lists its checks; the failing ones start with [-].
        const failing = body.split("\n").filter((l) => l.startsWith("[-]"));
        reject(new Error(`GET ${url}: HTTP ${res.statusCode} ${failing.join("; ") || body.slice(0, 200)}`));
      });
    });
    req.once("timeout", () => req.destroy(new Error(`GET ${url}: no answer within 2 s`)));
    req.once("error", reject);
    req.end();
  });
}
