/**
 * skaffold.yaml without skaffold: its fields against the skaffold/v4beta14 schema (transcribed in
 * skaffold-v4beta14.ts; the published JSON too when SKAFFOLD_SCHEMA names a copy of it), and what it points
 * at against the repository (Dockerfiles, the chart and its values, the example cluster's Service).
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadYaml } from "@kubernetes/client-node";
import { check, type RootSchema } from "./json-schema-subset.ts";
import { SKAFFOLD_API_VERSION, skaffoldV4beta14 } from "./skaffold-v4beta14.ts";

const root = join(import.meta.dirname, "..", "..");

interface Skaffold {
  apiVersion: string;
  kind: string;
  build: { artifacts: Array<{ image: string; context: string; docker: { dockerfile: string } }>; local: Local };
  deploy: {
    helm: {
      releases: Array<{
        chartPath: string;
        setValueTemplates: Record<string, string>;
        setValues: Record<string, unknown>;
      }>;
    };
  };
  portForward: Array<{ resourceType: string; resourceName: string; port: number; localPort: number }>;
  profiles: Array<{ name: string; build?: { local?: Local } }>;
}
interface Local {
  push?: boolean;
  useBuildkit?: boolean;
}

const load = (): Skaffold => loadYaml<Skaffold>(readFileSync(join(root, "skaffold.yaml"), "utf8"));
const values = loadYaml<Record<string, unknown>>(readFileSync(join(root, "charts/raftkv/values.yaml"), "utf8"));

/** The value at a dotted Helm --set path, or undefined when the chart has no such value. */
function valueAt(path: string): unknown {
  let v: unknown = values;
  for (const key of path.split(".")) {
    if (typeof v !== "object" || v === null || !(key in v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

describe("skaffold.yaml", () => {
  it(`is a ${SKAFFOLD_API_VERSION} Config`, () => {
    const cfg = load();
    assert.equal(cfg.apiVersion, SKAFFOLD_API_VERSION);
    assert.equal(cfg.kind, "Config");
  });

  it("uses only fields of the schema, of the right types, with the required ones present", () => {
    assert.deepEqual(check(skaffoldV4beta14, load()), []);
  });

  it("the checker catches a misspelt field, a missing required field and a wrong type", () => {
    // biome-ignore lint/suspicious/noExplicitAny: breaking a parsed YAML tree on purpose
    const bad = load() as unknown as Record<string, any>;
    bad.build.artifacts[0].docker.dockerFile = "node/Dockerfile";
    delete bad.deploy.helm.releases[0].name;
    bad.portForward[0].localPort = "11000";
    bad.profiles[0].build.local.push = "no";
    const errors = check(skaffoldV4beta14, bad);
    assert.ok(errors.includes("build.artifacts[0].docker.dockerFile: no such field"), errors.join("\n"));
    assert.ok(errors.includes("deploy.helm.releases[0]: required field name is missing"), errors.join("\n"));
    assert.ok(errors.includes("portForward[0].localPort: is string, want integer"), errors.join("\n"));
    assert.ok(errors.includes("profiles[0].build.local.push: is string, want boolean"), errors.join("\n"));
    assert.deepEqual(check(skaffoldV4beta14, { apiVersion: SKAFFOLD_API_VERSION }), [
      "(root): required field kind is missing",
    ]);
  });

  it("builds raftkv-node and raftkv-operator from their Dockerfiles with the classic builder", () => {
    const cfg = load();
    assert.deepEqual(
      cfg.build.artifacts.map((a) => [a.image, a.context, a.docker.dockerfile]),
      [
        ["raftkv-node", ".", "node/Dockerfile"],
        ["raftkv-operator", ".", "operator/Dockerfile"],
      ],
    );
    for (const a of cfg.build.artifacts)
      assert.ok(existsSync(join(root, a.context, a.docker.dockerfile)), a.docker.dockerfile);
    assert.equal(cfg.build.local.useBuildkit, false);
    const local = cfg.profiles.find((p) => p.name === "local");
    assert.deepEqual(local?.build?.local, { push: false, useBuildkit: false });
  });

  it("installs the chart with both built images and the example cluster, by values the chart has", () => {
    const [release, ...more] = load().deploy.helm.releases;
    assert.ok(release !== undefined && more.length === 0);
    assert.ok(existsSync(join(root, release.chartPath, "Chart.yaml")), release.chartPath);
    assert.deepEqual(release.setValueTemplates, {
      "image.repository": "{{.IMAGE_REPO_raftkv_operator}}",
      "image.tag": "{{.IMAGE_TAG_raftkv_operator}}",
      "nodeImage.repository": "{{.IMAGE_REPO_raftkv_node}}",
      "nodeImage.tag": "{{.IMAGE_TAG_raftkv_node}}",
    });
    assert.deepEqual(release.setValues, { "cluster.enabled": true });
    for (const path of [...Object.keys(release.setValueTemplates), ...Object.keys(release.setValues)]) {
      assert.equal(typeof valueAt(path), path === "cluster.enabled" ? "boolean" : "string", `values.yaml has ${path}`);
    }
  });

  it("forwards localhost:11000 to the example cluster's client Service", () => {
    assert.deepEqual(load().portForward, [
      { resourceType: "service", resourceName: "demo", port: 11000, localPort: 11000 },
    ]);
    // The operator names a RaftKV's client Service after the RaftKV itself.
    assert.equal(valueAt("cluster.name"), "demo");
  });

  const published = process.env.SKAFFOLD_SCHEMA;
  it("conforms to the published schema, and the transcription agrees with it", {
    skip: published ? false : "set SKAFFOLD_SCHEMA to skaffold's docs-v2/content/en/schemas/v4beta14.json",
  }, () => {
    const full = JSON.parse(readFileSync(published as string, "utf8")) as RootSchema;
    assert.deepEqual(check(full, load()), []);
    // Every transcribed object lists exactly the published fields and required fields.
    const fields = (s: RootSchema["definitions"][string]) =>
      [
        ...new Set([
          ...Object.keys(s.properties ?? {}),
          ...(s.anyOf ?? []).flatMap((b) => Object.keys(b.properties ?? {})),
        ]),
      ].sort();
    for (const [name, mine] of Object.entries(skaffoldV4beta14.definitions)) {
      const theirs = full.definitions[name];
      assert.ok(theirs !== undefined, `published schema has ${name}`);
      assert.deepEqual(fields(mine), fields(theirs), name);
      assert.deepEqual(mine.required ?? [], theirs.required ?? [], name);
    }
  });
});
