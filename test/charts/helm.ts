/**
 * Running the real helm (v4.3.2, from scripts/helm-binary.sh) on charts/raftkv for the chart tests: the
 * binary, a helm home of its own per process (no ~/.config/helm), `helm template` parsed into objects, and
 * the values that switch every optional feature on.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dumpYaml, loadAllYaml } from "@kubernetes/client-node";
// Not re-exported by the package index: the serializer loadAllYaml itself uses, to get back wire field names.
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import { getSerializationType } from "@kubernetes/client-node/dist/util.js";

/** The repository root. */
export const ROOT = join(import.meta.dirname, "..", "..");
/** charts/raftkv. */
export const CHART_DIR = join(ROOT, "charts", "raftkv");
const BUILD_TIMEOUT_MS = 20 * 60_000;

/** A rendered Kubernetes object, loosely typed for assertions. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field in the tests
  [key: string]: any;
}

/** What a helm run printed and how it exited. */
export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Values that switch on every optional feature of the chart. */
export const ALL_FEATURES = {
  operator: { replicas: 2, logLevel: "debug" },
  podAnnotations: { "example.com/note": "all features" },
  podLabels: { team: "storage" },
  imagePullSecrets: [{ name: "regcred" }],
  nodeSelector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoSchedule" }],
  metrics: {
    serviceMonitor: { enabled: true, labels: { release: "kube-prometheus-stack" } },
    nodePodMonitor: { enabled: true, labels: { release: "kube-prometheus-stack" } },
  },
  prometheusRule: { enabled: true, labels: { release: "kube-prometheus-stack" } },
  grafanaDashboard: { enabled: true, annotations: { grafana_folder: "raftkv" } },
  networkPolicy: {
    enabled: true,
    clientFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
  },
  cluster: { enabled: true, name: "demo", spec: { replicas: 3 } },
};

let binary: Promise<string> | undefined;

/** Path of helm v4.3.2 (built into the cache on first use; minutes when cold). Memoized per process. */
export function helmBinary(): Promise<string> {
  binary ??= new Promise<string>((resolve, reject) => {
    const script = join(ROOT, "scripts", "helm-binary.sh");
    execFile(script, [], { timeout: BUILD_TIMEOUT_MS }, (err, stdout) => {
      if (err) return reject(new Error(`${script} failed: ${err.message}`));
      resolve(stdout.trim().split("\n").at(-1) ?? "");
    }).stderr?.pipe(process.stderr);
  }).catch((e: unknown) => {
    binary = undefined;
    throw e;
  });
  return binary;
}

/** A scratch directory (helm home, values files) removed by cleanup(). */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), "raftkv-chart-"));
  #n = 0;

  /** Writes `values` as a YAML values file and returns its path. */
  valuesFile(values: unknown): string {
    const f = join(this.dir, `values-${++this.#n}.yaml`);
    writeFileSync(f, dumpYaml(values));
    return f;
  }

  /** Writes `text` to a file and returns its path. */
  file(name: string, text: string): string {
    const f = join(this.dir, name);
    writeFileSync(f, text);
    return f;
  }

  /** Removes the directory. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs helm with its home directories inside `scratch`; never rejects for a non-zero exit. */
export async function helm(scratch: Scratch, args: string[], timeoutMs = 60_000): Promise<HelmResult> {
  const bin = await helmBinary();
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(scratch.dir, "helm-cache"),
    HELM_CONFIG_HOME: join(scratch.dir, "helm-config"),
    HELM_DATA_HOME: join(scratch.dir, "helm-data"),
  };
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (err && typeof code !== "number") return reject(new Error(`helm ${args.join(" ")}: ${err.message}`));
      resolve({ code: typeof code === "number" ? code : 0, stdout, stderr });
    });
  });
}

/** `helm template` of `chart` with `values`; throws with helm's message when it fails. */
export async function renderChart(
  scratch: Scratch,
  values: unknown = {},
  opts: { release?: string; namespace?: string; chart?: string } = {},
): Promise<{ objects: K8sObject[]; yaml: string }> {
  const r = await helm(scratch, [
    "template",
    opts.release ?? "rel",
    opts.chart ?? CHART_DIR,
    "--namespace",
    opts.namespace ?? "raftkv-system",
    "-f",
    scratch.valuesFile(values),
  ]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  const objects = (loadAllYaml(r.stdout) as (K8sObject | null)[])
    .filter((o): o is K8sObject => o !== null)
    .map((o) => wireForm(o));
  return { objects, yaml: r.stdout };
}

/** The one object of `kind` (and `name` when given); throws when there is not exactly one. */
export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ");
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length} among: ${have}`);
  }
  return found[0] as K8sObject;
}

/**
 * An object as the API sees it: loadAllYaml returns client-node model instances, whose field names differ
 * from the wire's (NetworkPolicy `from` is `_from`); serializing them back gives the wire names.
 */
function wireForm(o: K8sObject): K8sObject {
  return JSON.parse(JSON.stringify(ObjectSerializer.serialize(o, getSerializationType(o.apiVersion, o.kind))));
}
