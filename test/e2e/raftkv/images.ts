/**
 * The raftkv images for the e2e journeys, built by their real Dockerfiles with the real Docker engine
 * (scripts/docker-engine.sh, scripts/build-images.sh --host-deps, on the local Node 24 + tini base of
 * test/images/base-image.ts since nothing can be pulled), then `docker save`d to archives the cluster
 * imports. A second node image, rebuilt with another VERSION, is the upgrade's target. The archives are
 * cached under a hash of everything that goes into them, so a rerun without source changes needs no engine.
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { makeBaseImage } from "../../images/base-image.ts";
import { engine, run } from "../../images/docker.ts";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const BASE = "raftkv-e2e/node24-base:local";

/** An image reference and the archive holding it. */
export interface ImageTar {
  ref: string;
  tar: string;
}

/** The three images of the journeys. */
export interface RaftkvImages {
  node: ImageTar;
  /** The same node rebuilt with VERSION=0.2.0-e2e: a different image under a different tag. */
  nodeV2: ImageTar;
  operator: ImageTar;
}

/** Every file under `dir` (relative to the repository), sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** A hash of what the images are built from. */
function sourceHash(): string {
  const h = createHash("sha256");
  const files = [
    "package.json",
    "package-lock.json",
    "node/Dockerfile",
    "operator/Dockerfile",
    ".dockerignore",
    "scripts/build-images.sh",
    "scripts/prune-node-modules.ts",
    "test/images/base-image.ts",
    ...filesUnder("node/src"),
    ...filesUnder("operator/src"),
  ];
  for (const f of files) {
    const p = join(ROOT, f);
    h.update(`${f}\0`);
    if (existsSync(p) && statSync(p).isFile()) h.update(readFileSync(p));
  }
  return h.digest("hex").slice(0, 16);
}

/** Builds (or finds cached) the node, node v2 and operator image archives. Takes minutes when it builds. */
export async function raftkvImages(): Promise<RaftkvImages> {
  const cache = process.env.RAFTKV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "raftkv");
  const dir = join(cache, "e2e-images", `raftkv-${sourceHash()}`);
  const images: RaftkvImages = {
    node: { ref: "raftkv-node:0.1.0-e2e", tar: join(dir, "node.tar") },
    nodeV2: { ref: "raftkv-node:0.2.0-e2e", tar: join(dir, "node-v2.tar") },
    operator: { ref: "raftkv-operator:0.1.0-e2e", tar: join(dir, "operator.tar") },
  };
  if (Object.values(images).every((i) => existsSync(i.tar))) return images;
  mkdirSync(dir, { recursive: true });
  console.log(`# building the raftkv images into ${dir}`);
  const eng = await engine();
  try {
    await makeBaseImage(eng, BASE);
    const build = async (tag: string, extra: string[]) => {
      const args = [
        join(ROOT, "scripts", "build-images.sh"),
        "--base",
        BASE,
        "--tag",
        tag,
        "--host-deps",
        "--",
        ...extra,
      ];
      const r = await run("bash", args, { env: eng.env, timeoutMs: 15 * 60_000 });
      if (r.code !== 0)
        throw new Error(`build-images.sh ${args.slice(1).join(" ")} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
    };
    await build("0.1.0-e2e", ["--network", "none"]);
    // The upgrade target: another VERSION label, so another image id, not just another tag.
    await build("0.2.0-e2e", ["--network", "none", "--build-arg", "VERSION=0.2.0-e2e"]);
    for (const i of Object.values(images)) {
      await eng.ok(["save", "-o", `${i.tar}.part`, i.ref], 5 * 60_000);
      renameSync(`${i.tar}.part`, i.tar);
    }
  } finally {
    // A failed stop must not hide the build's own error; it only leaves the engine's folder behind.
    await eng.stop().catch((e: Error) => console.error(`# warning: ${e.message}`));
  }
  return images;
}
