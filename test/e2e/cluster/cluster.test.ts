/**
 * The e2e harness against itself: a real single-node cluster runs a locally built image, pods reach each
 * other, Services and cluster DNS (and nothing outside cluster.local), a claim binds through the `local`
 * StorageClass and keeps its data across pods until it is deleted, and stop() leaves nothing behind.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { type E2ECluster, startCluster } from "./cluster.ts";
import { buildGoImage, PAUSE_IMAGE, PROBE_IMAGE } from "./images.ts";

let cluster: E2ECluster;
let core: CoreV1Api;
const NS = "e2e";
const netnsBefore = new Set(existsSync("/run/netns") ? readdirSync("/run/netns") : []);
const devicePluginsBefore = existsSync("/var/lib/kubelet/device-plugins");

before(
  async () => {
    const probe = await buildGoImage({ program: "probe", ref: PROBE_IMAGE });
    cluster = await startCluster({ images: [probe] });
    console.log(`cluster up: ${JSON.stringify(cluster.timings)}`);
    core = cluster.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    // The namespace's default ServiceAccount comes from a controller, a moment later.
    await until("ServiceAccount e2e/default", 30_000, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: NS });
      return true;
    });
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  await cluster?.stop();
});

/** Polls `check` every 250 ms until it returns true, for at most `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function runningPod(name: string): Promise<V1Pod> {
  let pod: V1Pod | undefined;
  await until(`pod ${name} Ready`, 90_000, async () => {
    pod = await core.readNamespacedPod({ name, namespace: NS });
    return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  });
  return pod as V1Pod;
}

/** A probe container (HTTP on 8080, Ready once / answers). */
function probeContainer(extra: object = {}): object {
  return {
    name: "probe",
    image: PROBE_IMAGE,
    imagePullPolicy: "Never",
    ports: [{ containerPort: 8080 }],
    readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
    ...extra,
  };
}

/** GET http://<ip>:8080<path> from this host; the pod bridge routes pod IPs here. */
async function get(ip: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${ip}:8080${path}`, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.text() };
}

test("the node is Ready and reports the harness's node address", async () => {
  const node = await core.readNode({ name: cluster.nodeName });
  assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
  assert.deepEqual(
    node.status?.addresses?.filter((a) => a.type === "InternalIP").map((a) => a.address),
    [cluster.nodeIp],
  );
});

test("a pod from the locally built pause image runs", async () => {
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: "pause" },
      spec: { containers: [{ name: "pause", image: PAUSE_IMAGE, imagePullPolicy: "Never" }] },
    },
  });
  const pod = await runningPod("pause");
  assert.equal(pod.status?.phase, "Running");
  assert.match(pod.status?.podIP ?? "", /^10\.242\.0\.\d+$/);
});

test("pods reach pods, Services and cluster DNS, and no name outside cluster.local resolves", async () => {
  // biome-ignore format: a manifest reads better as YAML
  await kubectl(["apply", "-n", NS, "-f", "-"], [
    "apiVersion: v1", "kind: Service", "metadata: {name: web}",
    "spec: {clusterIP: None, selector: {app: web}, ports: [{port: 8080}]}",
    "---",
    "apiVersion: v1", "kind: Service", "metadata: {name: web-svc}",
    "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}",
  ].join("\n"));
  await core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name: "client" }, spec: { containers: [probeContainer()] } } as V1Pod,
  });
  for (const name of ["web-0", "web-1"]) {
    const body = {
      metadata: { name, labels: { app: "web" } },
      spec: { hostname: name, subdomain: "web", containers: [probeContainer()] },
    };
    await core.createNamespacedPod({ namespace: NS, body: body as V1Pod });
  }
  const client = (await runningPod("client")).status?.podIP ?? "";
  const web0 = (await runningPod("web-0")).status?.podIP ?? "";
  await runningPod("web-1");

  assert.deepEqual(await get(web0, "/"), { status: 200, body: "probe web-0\n" }, "host to pod");
  const fetchFromClient = (url: string) => get(client, `/fetch?url=${encodeURIComponent(url)}`);
  assert.deepEqual(await fetchFromClient(`http://${web0}:8080/`), { status: 200, body: "probe web-0\n" }, "pod to pod");

  const svc = await core.readNamespacedService({ name: "web-svc", namespace: NS });
  const seen = new Set<string>();
  // kube-proxy programs the Service a moment after its endpoints appear.
  await until("the Service to reach both pods", 30_000, async () => {
    for (const url of [`http://${svc.spec?.clusterIP}/`, `http://web-svc.${NS}.svc.cluster.local/`]) {
      const r = await fetchFromClient(url);
      if (r.status === 200) seen.add(r.body.trim());
    }
    return seen.size === 2;
  });
  assert.deepEqual([...seen].sort(), ["probe web-0", "probe web-1"], "pod to Service, by IP and by name");

  const resolve = (name: string) => get(client, `/resolve?name=${encodeURIComponent(name)}`);
  await until("the headless Service's pod record", 30_000, async () => {
    const r = await resolve(`web-0.web.${NS}.svc.cluster.local`);
    return r.status === 200 && r.body.trim() === web0;
  });
  const api = await resolve("kubernetes.default.svc.cluster.local");
  assert.deepEqual(api, { status: 200, body: "10.243.0.1\n" }, "the kubernetes Service by name");
  // The probe does not trust the cluster CA: a certificate error proves TCP and TLS reached the API server.
  const apiFetch = await fetchFromClient("https://kubernetes.default.svc.cluster.local/version");
  assert.match(apiFetch.body, /certificate signed by unknown authority/, "pod to the API server via its Service");
  for (const outside of ["example.com", "kubernetes.io", "localhost.localdomain"]) {
    const r = await resolve(outside);
    assert.equal(r.status, 502, `${outside} must not resolve (no forwarding), got ${r.body}`);
  }
});

test("a claim binds through StorageClass local, keeps its data across pods, and is wiped when deleted", async () => {
  const [pvName] = await cluster.provideVolumes(1, "1Gi");
  assert.ok(pvName);
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: "data" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
  });
  const storePod = {
    metadata: { name: "store" },
    spec: {
      containers: [probeContainer({ volumeMounts: [{ name: "data", mountPath: "/data" }] })],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
    },
  } as V1Pod;
  await core.createNamespacedPod({ namespace: NS, body: storePod });
  let ip = (await runningPod("store")).status?.podIP ?? "";
  const pvc = await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: NS });
  assert.equal(pvc.status?.phase, "Bound");
  assert.equal(pvc.spec?.storageClassName, "local");
  assert.equal(pvc.spec?.volumeName, pvName);
  const put = await fetch(`http://${ip}:8080/file?name=greeting`, { method: "PUT", body: "kept across pods" });
  assert.equal(put.status, 204);

  await core.deleteNamespacedPod({ name: "store", namespace: NS, gracePeriodSeconds: 1 });
  await until("pod store gone", 60_000, async () => {
    try {
      await core.readNamespacedPod({ name: "store", namespace: NS });
      return false;
    } catch {
      return true;
    }
  });
  await core.createNamespacedPod({ namespace: NS, body: storePod });
  ip = (await runningPod("store")).status?.podIP ?? "";
  assert.deepEqual(await get(ip, "/file?name=greeting"), { status: 200, body: "kept across pods" });

  const path = (await core.readPersistentVolume({ name: pvName })).spec?.local?.path ?? "";
  assert.equal(readFileSync(`${path}/greeting`, "utf8"), "kept across pods");
  await core.deleteNamespacedPod({ name: "store", namespace: NS, gracePeriodSeconds: 1 });
  await core.deleteNamespacedPersistentVolumeClaim({ name: "data", namespace: NS });
  await until("the released volume to be reclaimed", 90_000, async () => {
    try {
      await core.readPersistentVolume({ name: pvName });
      return false;
    } catch {
      return true;
    }
  });
  assert.equal(existsSync(path), false, "the volume's directory is wiped");
});

test("stop() stops every process and undoes every host change", async () => {
  const dir = cluster.dir;
  await cluster.stop();
  const procs = readdirSync("/proc").filter((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
    } catch {
      return false;
    }
  });
  assert.deepEqual(procs, [], "processes naming the work dir");
  assert.equal(existsSync(dir), false, "work dir");
  const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(links, /rkv[np][0-9a-f]{6}/, "the harness's bridges");
  const forward = spawnSync("iptables", ["-w", "5", "-S", "FORWARD"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(forward, /raftkv-e2e-/, "the FORWARD rule");
  const netns = (existsSync("/run/netns") ? readdirSync("/run/netns") : []).filter(
    (n) => n.startsWith("cni-") && !netnsBefore.has(n),
  );
  assert.deepEqual(netns, [], "network namespaces");
  assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(dir), "mounts");
  assert.doesNotMatch(links, /10\.242\./, "pod network");
  if (!devicePluginsBefore) assert.equal(existsSync("/var/lib/kubelet/device-plugins"), false, "device-plugins dir");
});
