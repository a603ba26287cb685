/**
 * The node and operator images, built from node/Dockerfile and operator/Dockerfile by
 * scripts/build-images.sh with the classic builder on a real Docker engine, and run: a three-node cluster
 * on a user-defined network (container names as hostnames and peers) replicates a write; the containers
 * run as uid 10001 under tini with a read-only root and write nothing outside /data; `docker stop` ends a
 * node cleanly (exit 0, shutdown logged) and its data survives a restart; the operator exits 2 on a bad
 * variable and otherwise serves /healthz and stops cleanly.
 *
 * Nothing is pulled: the base is a local image (base-image.ts), builds run with --network none, and every
 * `docker run` has --pull never. Production modules are staged on the host (--host-deps). Everything
 * made here (containers, volumes, network, images, the engine if it was started here) is removed after.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeBaseImage } from "./base-image.ts";
import { type Engine, run, engine as startEngine, unavailable } from "./docker.ts";

const root = join(import.meta.dirname, "..", "..");
const id = randomBytes(3).toString("hex");
const BASE = `raftkv-test/node24-base:${id}`;
const NODE_IMAGE = `raftkv-test/raftkv-node:${id}`;
const OPERATOR_IMAGE = `raftkv-test/raftkv-operator:${id}`;
const NETWORK = `raftkv-test-${id}`;
const NODES = [1, 2, 3].map((i) => `rkv-${id}-n${i}`);
const LABEL = `raftkv.test-run=${id}`;
const UID = "10001";

const skip = unavailable();
let engine: Engine;
/** Image ids the classic builder printed (build stages), removed after the tagged images. */
const built: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), "raftkv-images-"));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every 250 ms until it returns a value other than undefined, for at most `ms`. */
async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (let i = 0; Date.now() < end && i < 10_000; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
}

/** The 127.0.0.1 URL Docker published for a container's port. */
async function url(container: string, port: number): Promise<string> {
  const out = await engine.ok(["port", container, `${port}/tcp`]);
  const hostPort = /^127\.0\.0\.1:(\d+)$/m.exec(out)?.[1];
  assert.ok(hostPort, `${container} publishes ${port} on 127.0.0.1 (${out.trim()})`);
  return `http://127.0.0.1:${hostPort}`;
}

async function http(method: string, target: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(target, {
    method,
    signal: AbortSignal.timeout(5_000),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

/** Starts node `name` of the three-node cluster; `readOnly` false leaves the root writable (for docker diff). */
async function runNode(name: string, readOnly: boolean): Promise<void> {
  const peers = NODES.map((n) => `${n}@${n}:12000`).join(",");
  await engine.ok([
    "run",
    "-d",
    "--pull",
    "never",
    "--name",
    name,
    "--hostname",
    name,
    "--network",
    NETWORK,
    "--label",
    LABEL,
    ...(readOnly ? ["--read-only"] : []),
    "--mount",
    `type=volume,src=${name}-data,dst=/data`,
    "-p",
    "127.0.0.1::11000",
    "-e",
    `NODE_ID=${name}`,
    "-e",
    `PEERS=${peers}`,
    "-e",
    `RAFT_ADVERTISE_ADDR=${name}`,
    "-e",
    `RAFT_SECRET=image-test-${id}`,
    NODE_IMAGE,
  ]);
}

describe("container images", { skip: skip ?? false, timeout: 900_000 }, () => {
  before(async () => {
    engine = await startEngine();
    await makeBaseImage(engine, BASE);
    const r = await run(
      "bash",
      [
        join(root, "scripts", "build-images.sh"),
        "--base",
        BASE,
        "--prefix",
        "raftkv-test/",
        "--tag",
        id,
        "--host-deps",
        "--",
        "--network",
        "none",
        "--label",
        LABEL,
      ],
      { env: engine.env, timeoutMs: 600_000 },
    );
    built.push(...[...r.stderr.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1] as string));
    assert.equal(r.code, 0, `build-images.sh failed:\n${r.stderr.slice(-4000)}`);
    assert.deepEqual(r.stdout.trim().split("\n"), [NODE_IMAGE, OPERATOR_IMAGE]);
    await engine.ok(["network", "create", "--label", LABEL, NETWORK]);
  });

  after(async () => {
    if (engine === undefined) return;
    const ids = (await engine.docker(["ps", "-aq", "--filter", `label=${LABEL}`])).stdout.split(/\s+/).filter(Boolean);
    if (ids.length > 0) await engine.docker(["rm", "-f", "-v", ...ids]);
    await engine.docker(["volume", "rm", ...NODES.map((n) => `${n}-data`)]);
    await engine.docker(["network", "rm", NETWORK]);
    await engine.docker(["rmi", NODE_IMAGE, OPERATOR_IMAGE]);
    for (const image of built.reverse()) await engine.docker(["rmi", image]);
    await engine.docker(["rmi", BASE]);
    await engine.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("are small, labelled, non-root, under tini, with production settings", async (t) => {
    const sizes = await engine.ok(["image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", "raftkv-test/*"]);
    t.diagnostic(`image sizes:\n${sizes.trim()}`);
    const size = async (image: string) => Number(await engine.ok(["image", "inspect", "-f", "{{.Size}}", image]));
    const base = await size(BASE);
    for (const [image, program, limitMiB] of [
      [NODE_IMAGE, "/app/node/src/main.ts", 30],
      [OPERATOR_IMAGE, "/app/operator/src/main.ts", 60],
    ] as const) {
      const added = (await size(image)) - base;
      t.diagnostic(`${image} adds ${(added / 2 ** 20).toFixed(1)} MiB to its base`);
      assert.ok(added < limitMiB * 2 ** 20, `${image} adds ${added} bytes to the base`);
      const cfg = JSON.parse(await engine.ok(["image", "inspect", "-f", "{{json .Config}}", image])) as {
        User: string;
        Entrypoint: string[];
        Env: string[];
        Labels: Record<string, string>;
      };
      assert.equal(cfg.User, `${UID}:${UID}`);
      assert.deepEqual(cfg.Entrypoint, ["/usr/bin/tini", "--", "node", program]);
      assert.ok(cfg.Env.includes("NODE_ENV=production"), cfg.Env.join(" "));
      assert.equal(
        cfg.Labels["org.opencontainers.image.title"],
        image.includes("node") ? "raftkv-node" : "raftkv-operator",
      );
      assert.equal(cfg.Labels["org.opencontainers.image.licenses"], "Apache-2.0");
      assert.equal(cfg.Labels["org.opencontainers.image.base.name"], BASE);
    }
  });

  it("carry only the modules their program needs", async () => {
    const has = async (image: string, pkg: string) => {
      const probe = `process.exit(require("fs").existsSync("/app/node_modules/${pkg}/package.json") ? 0 : 1)`;
      const r = await engine.docker([
        "run",
        "--rm",
        "--pull",
        "never",
        "--read-only",
        "--entrypoint",
        "node",
        image,
        "-e",
        probe,
      ]);
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      return r.code === 0;
    };
    assert.deepEqual(
      await Promise.all(
        ["express", "level", "classic-level", "prom-client", "@kubernetes/client-node"].map((p) => has(NODE_IMAGE, p)),
      ),
      [true, true, true, true, false],
    );
    assert.deepEqual(
      await Promise.all(
        ["express", "level", "prom-client", "@kubernetes/client-node"].map((p) => has(OPERATOR_IMAGE, p)),
      ),
      [false, false, true, true],
    );
  });

  it("three node containers form a cluster by DNS names; a write on one is read on the others", async () => {
    await runNode(NODES[0] as string, true);
    await runNode(NODES[1] as string, true);
    await runNode(NODES[2] as string, false);
    const urls = await Promise.all(NODES.map((n) => url(n, 11000)));
    for (const u of urls) {
      await until(`${u}/readyz`, 60_000, async () =>
        (await http("GET", `${u}/readyz`)).status === 200 ? true : undefined,
      );
    }
    const write = await until("a write through node 1", 30_000, async () => {
      const r = await http("POST", `${urls[0]}/key`, { greeting: `hello ${id}` });
      return r.status === 200 ? r : undefined;
    });
    assert.ok(typeof (write.json as { index?: unknown }).index === "number", JSON.stringify(write.json));
    assert.deepEqual((await http("GET", `${urls[2]}/key/greeting`)).json, { greeting: `hello ${id}` });
    // Replicated to node 2 itself: its local state has it, without asking the leader.
    await until("the write in node 2's local state", 10_000, async () => {
      const r = await http("GET", `${urls[1]}/key/greeting?consistency=stale`);
      return JSON.stringify(r.json) === JSON.stringify({ greeting: `hello ${id}` }) ? true : undefined;
    });
  });

  it("run as uid 10001 under tini with a read-only root; only /data is written", async () => {
    const [n1, , n3] = NODES as [string, string, string];
    // docker top runs ps on the host; the engine insists on a pid column.
    const top = await engine.ok(["top", n1, "-eo", "pid,uid,args"]);
    const rows = top.trim().split("\n").slice(1);
    assert.ok(rows.length >= 2, top);
    for (const row of rows) assert.match(row, new RegExp(`^\\d+\\s+${UID}\\s`), top);
    assert.match(rows[0] as string, /^\d+\s+\d+\s+\/usr\/bin\/tini -- node \/app\/node\/src\/main\.ts$/, top);
    assert.equal((await engine.ok(["inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", n1])).trim(), "true");
    const tryWrite = (file: string) =>
      engine.docker([
        "exec",
        n1,
        "node",
        "-e",
        `try { require("fs").writeFileSync(${JSON.stringify(file)}, "x"); require("fs").rmSync(${JSON.stringify(file)}); console.log("ok") } catch (e) { console.log(e.code) }`,
      ]);
    assert.equal((await tryWrite("/app/probe")).stdout.trim(), "EROFS");
    assert.equal((await tryWrite("/tmp/probe")).stdout.trim(), "EROFS");
    assert.equal((await tryWrite("/data/probe")).stdout.trim(), "ok");
    // Node 3 runs with a writable root: after its writes, nothing changed outside the /data volume.
    assert.equal((await engine.ok(["diff", n3])).trim(), "");
  });

  it("docker stop delivers SIGTERM: a clean exit 0 within the grace time, and the data survives a restart", async () => {
    const n2 = NODES[1] as string;
    const start = Date.now();
    await engine.ok(["stop", "-t", "20", n2], 30_000);
    const seconds = (Date.now() - start) / 1000;
    assert.ok(seconds < 15, `docker stop took ${seconds} s`);
    assert.equal((await engine.ok(["inspect", "-f", "{{.State.ExitCode}}", n2])).trim(), "0");
    const logs = await engine.docker(["logs", n2]);
    const lines = `${logs.stdout}${logs.stderr}`
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; why?: string; exitCode?: number });
    assert.ok(
      lines.some((l) => l.msg === "shutting down" && l.why === "SIGTERM"),
      "logs the SIGTERM",
    );
    assert.ok(
      lines.some((l) => l.msg === "stopped" && l.exitCode === 0),
      "logs the clean stop",
    );
    await engine.ok(["start", n2]);
    const u = await url(n2, 11000);
    await until("node 2 back with its data", 60_000, async () => {
      const r = await http("GET", `${u}/key/greeting?consistency=stale`);
      return JSON.stringify(r.json) === JSON.stringify({ greeting: `hello ${id}` }) ? true : undefined;
    });
  });

  it("the operator exits 2 naming a bad variable", async () => {
    const r = await engine.docker([
      "run",
      "--rm",
      "--pull",
      "never",
      "--read-only",
      "-e",
      "METRICS_PORT=x",
      OPERATOR_IMAGE,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), 'raftkv-operator: invalid METRICS_PORT: "x" is not an integer in [0, 65535]');
  });

  it("the operator serves /healthz without reaching a cluster and stops cleanly on SIGTERM", async () => {
    // A kubeconfig whose API server refuses connections: the operator starts, waits for a Lease, stays healthy.
    const kubeconfig = join(tmp, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:1'}}]",
        "users: [{name: none, user: {token: none}}]",
        "contexts: [{name: none, context: {cluster: none, user: none}}]",
        "current-context: none",
      ].join("\n"),
    );
    chmodSync(kubeconfig, 0o644);
    const name = `rkv-${id}-operator`;
    await engine.ok([
      "run",
      "-d",
      "--pull",
      "never",
      "--name",
      name,
      "--label",
      LABEL,
      "--read-only",
      "-v",
      `${kubeconfig}:/config/kubeconfig:ro`,
      "-e",
      "KUBECONFIG=/config/kubeconfig",
      "-p",
      "127.0.0.1::8080",
      OPERATOR_IMAGE,
    ]);
    const u = await url(name, 8080);
    await until(`${u}/healthz`, 30_000, async () =>
      (await http("GET", `${u}/healthz`)).status === 200 ? true : undefined,
    );
    const metrics = await http("GET", `${u}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.json), /^# HELP /m);
    await engine.ok(["stop", "-t", "20", name], 30_000);
    assert.equal((await engine.ok(["inspect", "-f", "{{.State.ExitCode}}", name])).trim(), "0");
    const logs = await engine.docker(["logs", name]);
    assert.match(`${logs.stdout}${logs.stderr}`, /"msg":"operator stopped"/);
  });
});
