/**
 * A real Prometheus for tests: the binaries from scripts/prometheus-binaries.sh (Debian's package,
 * apt-installed when missing), a generated config scraping static targets on 127.0.0.1, a temporary TSDB,
 * and the HTTP API (/api/v1/query, /api/v1/alerts, /api/v1/rules). Cleanup kills it even when a test fails.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { dumpYaml } from "@kubernetes/client-node";
import { freePort, waitFor } from "./harness.ts";

const root = join(import.meta.dirname, "..", "..");

/** The directory holding `prometheus` and `promtool` (installs them with apt when missing; up to 5 minutes). */
export function prometheusBinaries(): string {
  const r = spawnSync("bash", [join(root, "scripts", "prometheus-binaries.sh")], {
    encoding: "utf8",
    timeout: 300_000,
  });
  const dir = r.stdout.trim();
  if (r.status !== 0 || !dir) throw new Error(`scripts/prometheus-binaries.sh failed: ${r.stderr}`);
  return dir;
}

/** Runs promtool with `args`; resolves with its exit code and output. */
export function promtool(bin: string, args: string[], cwd = root): { code: number | null; output: string } {
  const r = spawnSync(join(bin, "promtool"), args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** One scrape target: host:port and the target labels Prometheus attaches to its series. */
export interface Target {
  address: string;
  labels: Record<string, string>;
}

/** One sample of an instant vector. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert as /api/v1/alerts lists it. */
export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  value: string;
}

/** A running Prometheus. */
export class PrometheusServer {
  readonly url: string;
  readonly dir: string;
  readonly #proc: ChildProcess;
  readonly #exit: Promise<void>;
  readonly output: string[] = [];

  private constructor(url: string, dir: string, proc: ChildProcess) {
    this.url = url;
    this.dir = dir;
    this.#proc = proc;
    this.#exit = new Promise((resolve) => proc.once("exit", () => resolve()));
    const keep = (b: Buffer) => this.output.push(b.toString("utf8"));
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
  }

  /**
   * Starts Prometheus on 127.0.0.1 scraping `targets` every second with `rules` (a rules document, as
   * an object) evaluated every second, and waits until it is ready; cleanup is registered on `t`.
   */
  static async start(t: TestContext, bin: string, targets: Target[], rules: unknown): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), "raftkv-prometheus-"));
    const port = await freePort();
    writeFileSync(join(dir, "rules.yaml"), dumpYaml(rules));
    const config = {
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      rule_files: [join(dir, "rules.yaml")],
      scrape_configs: [
        {
          job_name: "raftkv",
          static_configs: targets.map((x) => ({ targets: [x.address], labels: x.labels })),
        },
      ],
    };
    writeFileSync(join(dir, "prometheus.yml"), dumpYaml(config));
    const proc = spawn(
      join(bin, "prometheus"),
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const p = new PrometheusServer(`http://127.0.0.1:${port}`, dir, proc);
    t.after(async () => {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    await waitFor("Prometheus to be ready", 30_000, async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited: ${p.output.join("")}`);
      const r = await fetch(`${p.url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      return r.ok ? true : undefined;
    });
    return p;
  }

  /** Kills Prometheus (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    this.#proc.kill("SIGTERM");
    const timer = setTimeout(() => this.#proc.kill("SIGKILL"), 5000);
    await this.#exit;
    clearTimeout(timer);
  }

  /** GET an API path; resolves with `data`, or throws with Prometheus's error message. */
  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const u = new URL(path, this.url);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== "success") throw new Error(`${body.errorType ?? r.status}: ${body.error ?? "no error text"}`);
    return body.data;
  }

  /** Evaluates a PromQL expression now; resolves with the instant vector (scalars come back as one sample). */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>("/api/v1/query", { query: expr });
    if (data.resultType === "vector") return data.result as Sample[];
    if (data.resultType === "scalar") return [{ metric: {}, value: data.result as [number, string] }];
    throw new Error(`unexpected result type ${data.resultType} for ${expr}`);
  }

  /** Active (pending or firing) alerts. */
  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts;
  }
}
