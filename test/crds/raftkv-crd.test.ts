/**
 * crds/raftkv.yaml and examples/raftkv.yaml as files: names, subresources, printer columns, and that the
 * schema has every field of operator/src/raftkv.ts (no cluster; test/k8s/crd.test.ts runs them on a real one).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  loadAllYaml,
  loadYaml,
  type V1CustomResourceDefinition,
  type V1CustomResourceDefinitionVersion,
  type V1JSONSchemaProps,
} from "@kubernetes/client-node";
import {
  API_VERSION,
  type Condition,
  GROUP,
  KIND,
  type MemberStatus,
  PLURAL,
  type RaftKVSpec,
  type RaftKVStatus,
  VERSION,
} from "../../operator/src/raftkv.ts";

const root = join(import.meta.dirname, "..", "..");

/**
 * An array's `items` as loadYaml leaves it: client-node types `items` as `any`, so it stays plain YAML
 * (keys such as `enum`, not `_enum`) while `properties` are V1JSONSchemaProps.
 */
interface RawSchema {
  description?: string;
  enum?: unknown[];
  properties?: Record<string, RawSchema>;
  items?: RawSchema;
}

// Each list names every field of its TypeScript type: `satisfies` fails the typecheck when the type gains one.
const SPEC_FIELDS = Object.keys({
  replicas: 1,
  image: 1,
  imagePullPolicy: 1,
  kvStore: 1,
  storage: 1,
  resources: 1,
  nodeSelector: 1,
  tolerations: 1,
  affinity: 1,
  topologySpreadConstraints: 1,
  podLabels: 1,
  podAnnotations: 1,
  priorityClassName: 1,
  podDisruptionBudget: 1,
  metrics: 1,
  paused: 1,
} satisfies Record<keyof RaftKVSpec, 1>);
const STATUS_FIELDS = Object.keys({
  observedGeneration: 1,
  replicas: 1,
  readyReplicas: 1,
  selector: 1,
  leader: 1,
  term: 1,
  commitIndex: 1,
  quorum: 1,
  failureTolerance: 1,
  members: 1,
  conditions: 1,
} satisfies Record<keyof RaftKVStatus, 1>);
const MEMBER_FIELDS = Object.keys({
  id: 1,
  pod: 1,
  role: 1,
  healthy: 1,
  lastContact: 1,
  matchIndex: 1,
  lag: 1,
} satisfies Record<keyof MemberStatus, 1>);
const CONDITION_FIELDS = Object.keys({
  type: 1,
  status: 1,
  reason: 1,
  message: 1,
  lastTransitionTime: 1,
  observedGeneration: 1,
} satisfies Record<keyof Condition, 1>);
/** Nested spec fields, by path. */
const NESTED_SPEC_FIELDS = [
  "storage.size",
  "storage.storageClassName",
  "podDisruptionBudget.enabled",
  "metrics.serviceMonitor.enabled",
  "metrics.serviceMonitor.labels",
  "metrics.serviceMonitor.interval",
];

/** A deserialized client-node object as plain JSON (its classes set absent fields to undefined). */
function plain(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x));
}

function loadCrd(): V1CustomResourceDefinition {
  const docs = loadAllYaml(readFileSync(join(root, "crds", "raftkv.yaml"), "utf8")).filter((d) => d != null);
  assert.equal(docs.length, 1, "crds/raftkv.yaml holds one document");
  return docs[0] as V1CustomResourceDefinition;
}

function version(crd: V1CustomResourceDefinition): V1CustomResourceDefinitionVersion {
  const v = crd.spec.versions[0];
  assert.ok(v, "the CRD has a version");
  return v;
}

function rootSchema(crd: V1CustomResourceDefinition): V1JSONSchemaProps {
  const s = version(crd).schema?.openAPIV3Schema;
  assert.ok(s, "the version has a schema");
  return s;
}

function specSchema(crd: V1CustomResourceDefinition): V1JSONSchemaProps {
  const s = rootSchema(crd).properties?.spec;
  assert.ok(s, "the schema has spec");
  return s;
}

/** The schema at a dotted path under `s` (properties only). */
function at(s: V1JSONSchemaProps, path: string): V1JSONSchemaProps {
  let cur = s;
  for (const key of path.split(".")) {
    const next = cur.properties?.[key];
    assert.ok(next, `the schema has ${path} (missing ${key})`);
    cur = next;
  }
  return cur;
}

/** Dotted paths of every schema below `s` that lacks a description. */
function undescribed(s: RawSchema, path: string): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    if (key !== "metadata" && !child.description) out.push(p);
    out.push(...undescribed(child, p));
    if (child.items) out.push(...undescribed(child.items, `${p}[]`));
  }
  return out;
}

describe("crds/raftkv.yaml", () => {
  const crd = loadCrd();

  it("names the resource as operator/src/raftkv.ts does", () => {
    assert.equal(crd.apiVersion, "apiextensions.k8s.io/v1");
    assert.equal(crd.kind, "CustomResourceDefinition");
    assert.equal(crd.metadata?.name, `${PLURAL}.${GROUP}`);
    assert.equal(crd.spec.group, GROUP);
    assert.equal(crd.spec.scope, "Namespaced");
    assert.deepEqual(plain(crd.spec.names), {
      kind: KIND,
      listKind: `${KIND}List`,
      plural: PLURAL,
      singular: "raftkv",
      shortNames: ["rkv"],
      categories: ["raftkv"],
    });
    assert.equal(crd.spec.versions.length, 1);
    const v = version(crd);
    assert.equal(v.name, VERSION);
    assert.equal(v.served, true);
    assert.equal(v.storage, true);
  });

  it("has the status and scale subresources", () => {
    assert.deepEqual(plain(version(crd).subresources), {
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    });
  });

  it("prints Desired, Ready, Leader, Term, Available and Age", () => {
    const cols = (version(crd).additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);
    assert.deepEqual(cols, [
      ["Desired", ".spec.replicas", 0],
      ["Ready", ".status.readyReplicas", 0],
      ["Leader", ".status.leader", 0],
      ["Term", ".status.term", 0],
      ["Available", '.status.conditions[?(@.type=="Available")].status', 0],
      ["Age", ".metadata.creationTimestamp", 0],
    ]);
  });

  it("has every field of RaftKVSpec and RaftKVStatus, and no other", () => {
    const spec = specSchema(crd);
    assert.deepEqual(Object.keys(spec.properties ?? {}).sort(), [...SPEC_FIELDS].sort());
    for (const path of NESTED_SPEC_FIELDS) at(spec, path);
    const status = at(rootSchema(crd), "status");
    assert.deepEqual(Object.keys(status.properties ?? {}).sort(), [...STATUS_FIELDS].sort());
    const member: RawSchema | undefined = at(status, "members").items;
    assert.deepEqual(Object.keys(member?.properties ?? {}).sort(), [...MEMBER_FIELDS].sort());
    assert.deepEqual(member?.properties?.role?.enum, ["leader", "follower", "learner"]);
    const conditions = at(status, "conditions");
    const condition: RawSchema | undefined = conditions.items;
    assert.deepEqual(Object.keys(condition?.properties ?? {}).sort(), [...CONDITION_FIELDS].sort());
    assert.equal(conditions.x_kubernetes_list_type, "map");
    assert.deepEqual(conditions.x_kubernetes_list_map_keys, ["type"]);
  });

  it("carries the defaults the operator relies on, nested objects defaulting to {}", () => {
    const spec = specSchema(crd);
    const defaults: [string, unknown][] = [
      ["replicas", 3],
      ["imagePullPolicy", "IfNotPresent"],
      ["kvStore", "leveldb"],
      ["storage", {}],
      ["storage.size", "1Gi"],
      ["podDisruptionBudget", {}],
      ["podDisruptionBudget.enabled", true],
      ["metrics", {}],
      ["metrics.serviceMonitor", {}],
      ["metrics.serviceMonitor.enabled", false],
      ["metrics.serviceMonitor.interval", "30s"],
      ["paused", false],
    ];
    for (const [path, want] of defaults) assert.deepEqual(at(spec, path)._default, want, `default of spec.${path}`);
    assert.equal(at(spec, "image")._default, undefined, "image has no default: the operator's applies");
    assert.deepEqual(at(spec, "imagePullPolicy")._enum, ["Always", "IfNotPresent", "Never"]);
    assert.deepEqual(at(spec, "kvStore")._enum, ["leveldb", "memory"]);
    assert.equal(at(spec, "replicas").minimum, 1);
    assert.equal(at(spec, "replicas").maximum, 9);
    assert.equal(at(spec, "storage.size").x_kubernetes_int_or_string, true);
  });

  it("guards the immutable and monotonic fields with CEL rules", () => {
    const spec = specSchema(crd);
    const rules = (path: string) => (at(spec, path).x_kubernetes_validations ?? []).map((v) => v.rule);
    assert.ok(rules("kvStore").includes("self == oldSelf"));
    assert.ok(rules("storage").some((r) => r.includes("quantity(") && r.includes("compareTo")));
    assert.ok(rules("storage").some((r) => r.includes("storageClassName == oldSelf.storageClassName")));
    const labelRule = rules("podLabels").join(" ");
    for (const l of ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"]) {
      assert.ok(labelRule.includes(`'${l}'`), `podLabels' rule names ${l}`);
    }
    for (const path of ["kvStore", "storage", "podLabels", "replicas"]) {
      for (const v of at(spec, path).x_kubernetes_validations ?? []) assert.ok(v.message, `${path}: ${v.rule}`);
    }
  });

  it("describes every field (kubectl explain shows them)", () => {
    assert.deepEqual(undescribed(rootSchema(crd), ""), []);
  });
});

describe("examples/raftkv.yaml", () => {
  const text = readFileSync(join(root, "examples", "raftkv.yaml"), "utf8");
  const example = loadYaml<{
    apiVersion: string;
    kind: string;
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  }>(text);

  it("is a minimal 3-node RaftKV named demo, with no namespace so -n works", () => {
    assert.equal(example.apiVersion, API_VERSION);
    assert.equal(example.kind, KIND);
    assert.deepEqual(plain(example.metadata), { name: "demo" });
    assert.deepEqual(plain(example.spec), { replicas: 3 });
  });

  it("uses only fields the CRD defines, within their bounds", () => {
    const spec = specSchema(loadCrd());
    for (const key of Object.keys(example.spec)) assert.ok(spec.properties?.[key], `spec.${key} is in the CRD`);
    const replicas = example.spec.replicas;
    assert.equal(typeof replicas, "number");
    assert.ok((replicas as number) >= 1 && (replicas as number) <= 9);
  });

  it("says how to apply it", () => {
    assert.match(text, /^#.*kubectl apply .*-f examples\/raftkv\.yaml/m);
  });
});
