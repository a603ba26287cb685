/**
 * Container images for the e2e tier, built without Docker or a registry: a static Go program (from
 * test/e2e/images/<name>/main.go) becomes the one layer of an OCI image, written as an image archive that
 * `ctr images import` takes (an OCI layout plus the docker-style manifest.json that names the image).
 * Archives are cached by the hash of their source and name, outside the clone.
 */

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const imagesDir = join(import.meta.dirname, "..", "images");

/** The sandbox (pause) image the harness's containerd uses; imported at start-up. */
export const PAUSE_IMAGE = "raftkv.local/e2e/pause:1";
/** The test server image (test/e2e/images/probe): HTTP on 8080 with /resolve, /fetch and /file. */
export const PROBE_IMAGE = "raftkv.local/e2e/probe:1";

/** What goes into an image built from a Go program. */
export interface GoImageSpec {
  /** The folder under test/e2e/images holding main.go. */
  program: string;
  /** The full image reference, e.g. raftkv.local/e2e/probe:1 (pods must use imagePullPolicy: Never). */
  ref: string;
  /** The image's user (default 65534:65534, nobody). */
  user?: string;
}

/** The cache dir for built image archives (beside the Kubernetes binaries' cache). */
function cacheDir(): string {
  const base = process.env.RAFTKV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "raftkv");
  return join(base, "e2e-images");
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Builds (or finds in the cache) the image archive for `spec` and returns its path: a tar that
 * `ctr -n k8s.io images import` loads as `spec.ref`.
 */
export async function buildGoImage(spec: GoImageSpec): Promise<string> {
  const source = join(imagesDir, spec.program, "main.go");
  if (!existsSync(source)) throw new Error(`buildGoImage: no program ${source}`);
  const user = spec.user ?? "65534:65534";
  const key = sha256(`${readFileSync(source, "utf8")}\0${spec.ref}\0${user}\0${process.arch}`).slice(0, 16);
  const archive = join(cacheDir(), `${spec.program}-${key}.tar`);
  if (existsSync(archive)) return archive;

  mkdirSync(cacheDir(), { recursive: true });
  const work = mkdtempSync(join(cacheDir(), `.build-${spec.program}-`));
  try {
    const rootfs = join(work, "rootfs");
    mkdirSync(rootfs);
    const binName = spec.program;
    await run("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", join(rootfs, binName), source], {
      env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOTOOLCHAIN: "local" },
      timeout: 5 * 60_000,
    });
    await writeImageLayout(work, rootfs, binName, spec.ref, user);
    const tmp = `${archive}.${process.pid}.tmp`;
    // biome-ignore format: flag per line reads better
    await run("tar", ["--create", "--file", tmp, "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
      "-C", join(work, "layout"), "."]);
    renameSync(tmp, archive); // atomic: a concurrent builder finds either nothing or a whole archive
    return archive;
  } catch (e) {
    throw new Error(`building image ${spec.ref} from ${source}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Writes work/layout: oci-layout, index.json, manifest.json and the blobs (layer, config, manifest). */
async function writeImageLayout(work: string, rootfs: string, bin: string, ref: string, user: string): Promise<void> {
  const layout = join(work, "layout");
  const blobs = join(layout, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const layerTar = join(work, "layer.tar");
  // Uncompressed, deterministic layer: the program at /<bin>, owned by root.
  // biome-ignore format: flag per line reads better
  await run("tar", ["--create", "--file", layerTar, "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
    "--mode=0755", "-C", rootfs, bin]);
  const layer = readFileSync(layerTar);
  const blob = (data: Buffer | string, mediaType: string) => {
    const digest = sha256(data);
    writeFileSync(join(blobs, digest), data);
    return { mediaType, digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
  };
  const layerDesc = blob(layer, "application/vnd.oci.image.layer.v1.tar");
  const config = JSON.stringify({
    architecture: process.arch === "x64" ? "amd64" : process.arch,
    os: "linux",
    config: { Entrypoint: [`/${bin}`], User: user, WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: [layerDesc.digest] },
    history: [{ created_by: `raftkv e2e: go build test/e2e/images/${bin}` }],
  });
  const configDesc = blob(config, "application/vnd.oci.image.config.v1+json");
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: configDesc,
    layers: [layerDesc],
  });
  const manifestDesc = blob(manifest, "application/vnd.oci.image.manifest.v1+json");
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          ...manifestDesc,
          annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref },
        },
      ],
    }),
  );
  // The docker-style index: ctr import names the image from RepoTags.
  const path = (d: { digest: string }) => `blobs/sha256/${d.digest.slice("sha256:".length)}`;
  writeFileSync(
    join(layout, "manifest.json"),
    JSON.stringify([{ Config: path(configDesc), RepoTags: [ref], Layers: [path(layerDesc)] }]),
  );
}
