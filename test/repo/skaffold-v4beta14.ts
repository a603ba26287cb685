/**
 * The part of skaffold's `skaffold/v4beta14` config schema that raftkv's skaffold.yaml uses, written down
 * from the published schema (GoogleContainerTools/skaffold, docs-v2/content/en/schemas/v4beta14.json) so
 * the check runs offline: for each object, all of its field names, with types given for the fields
 * raftkv uses ({} = any value, not checked further). Objects are closed (additionalProperties: false) as
 * in the schema. Set SKAFFOLD_SCHEMA to a copy of that file and skaffold.test.ts also checks this
 * transcription against it.
 */

import type { RootSchema, SchemaNode } from "./json-schema-subset.ts";

/** The apiVersion this transcription describes. */
export const SKAFFOLD_API_VERSION = "skaffold/v4beta14";

const any: SchemaNode = {};
const str: SchemaNode = { type: "string" };
const bool: SchemaNode = { type: "boolean" };
const int: SchemaNode = { type: "integer" };
const ref = (name: string): SchemaNode => ({ $ref: `#/definitions/${name}` });
const arrayOf = (items: SchemaNode): SchemaNode => ({ type: "array", items });
const mapOf = (v: SchemaNode): SchemaNode => ({ type: "object", additionalProperties: v });
const closed = (properties: Record<string, SchemaNode>, required?: string[]): SchemaNode => ({
  type: "object",
  properties,
  additionalProperties: false,
  ...(required === undefined ? {} : { required }),
});

/** Fields every build config variant has; each variant adds at most one builder (local, cluster, ...). */
const buildCommon = {
  artifacts: arrayOf(ref("Artifact")),
  hooks: any,
  insecureRegistries: arrayOf(str),
  platforms: arrayOf(str),
  tagPolicy: any,
};

/** Fields every artifact variant has; each variant adds at most one builder (docker, jib, ko, ...). */
const artifactCommon = {
  context: str,
  hooks: any,
  image: str,
  platforms: arrayOf(str),
  requires: any,
  runtimeType: str,
  sync: any,
};

/** Profile and top-level config share these pipeline fields. */
const pipeline = {
  build: ref("BuildConfig"),
  customActions: any,
  deploy: ref("DeployConfig"),
  manifests: any,
  portForward: arrayOf(ref("PortForwardResource")),
  resourceSelector: any,
  test: any,
  verify: any,
};

/** The transcribed schema, rooted at SkaffoldConfig like the published one. */
export const skaffoldV4beta14: RootSchema = {
  $ref: "#/definitions/SkaffoldConfig",
  definitions: {
    SkaffoldConfig: closed(
      {
        apiVersion: str,
        kind: str,
        metadata: ref("Metadata"),
        profiles: arrayOf(ref("Profile")),
        requires: any,
        ...pipeline,
      },
      ["apiVersion", "kind"],
    ),
    Metadata: closed({ annotations: mapOf(str), labels: mapOf(str), name: str }),
    BuildConfig: {
      type: "object",
      anyOf: ["", "local", "googleCloudBuild", "cluster"].map((builder) =>
        closed(
          builder === "" ? buildCommon : { ...buildCommon, [builder]: builder === "local" ? ref("LocalBuild") : any },
        ),
      ),
    },
    LocalBuild: closed({ concurrency: int, push: bool, tryImportMissing: bool, useBuildkit: bool, useDockerCLI: bool }),
    Artifact: {
      type: "object",
      required: ["image"],
      anyOf: ["", "docker", "bazel", "ko", "jib", "kaniko", "buildpacks", "custom"].map((builder) =>
        closed(
          builder === ""
            ? artifactCommon
            : { ...artifactCommon, [builder]: builder === "docker" ? ref("DockerArtifact") : any },
        ),
      ),
    },
    DockerArtifact: closed({
      addHost: arrayOf(str),
      buildArgs: mapOf(str),
      cacheFrom: arrayOf(str),
      cliFlags: arrayOf(str),
      dockerfile: str,
      network: str,
      noCache: bool,
      pullParent: bool,
      secrets: any,
      squash: bool,
      ssh: str,
      target: str,
    }),
    DeployConfig: closed({
      cloudrun: any,
      docker: any,
      helm: ref("LegacyHelmDeploy"),
      kpt: any,
      kubeContext: str,
      kubectl: any,
      logs: any,
      statusCheck: bool,
      statusCheckDeadlineSeconds: int,
      tolerateFailuresUntilDeadline: bool,
    }),
    LegacyHelmDeploy: closed({ concurrency: int, flags: any, hooks: any, releases: arrayOf(ref("HelmRelease")) }),
    HelmRelease: closed(
      {
        chartPath: str,
        createNamespace: bool,
        dependsOn: arrayOf(str),
        name: str,
        namespace: str,
        overrides: any,
        packaged: any,
        recreatePods: bool,
        remoteChart: str,
        repo: str,
        setFiles: mapOf(str),
        setValueTemplates: any,
        setValues: any,
        skipBuildDependencies: bool,
        skipTests: bool,
        upgradeOnChange: bool,
        useHelmSecrets: bool,
        valuesFiles: arrayOf(str),
        version: str,
        wait: bool,
      },
      ["name"],
    ),
    PortForwardResource: closed({
      address: str,
      localPort: int,
      namespace: str,
      port: { anyOf: [str, int] },
      resourceName: str,
      resourceType: str,
    }),
    Profile: closed({ activation: any, name: str, patches: any, requiresAllActivations: bool, ...pipeline }, ["name"]),
  },
};
