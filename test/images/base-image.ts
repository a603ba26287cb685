/**
 * The local stand-in for the official node:24 slim image, since no image can be pulled here: a root
 * filesystem with the project's Node 24 binary at /usr/local/bin/node, /bin/sh (dash) for the Dockerfiles'
 * RUN steps, Debian's tini at /usr/bin/tini (so the Dockerfiles skip apt), and the glibc libraries they
 * link, imported with `docker import`.
 */

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type Engine, run } from "./docker.ts";

const root = join(import.meta.dirname, "..", "..");

/** Host files the base carries, by their path in the image. */
function binaries(): Record<string, string> {
  const node = realpathSync(join(root, "node_modules", "node", "bin", "node"));
  return { "/usr/local/bin/node": node, "/bin/sh": realpathSync("/bin/dash"), "/usr/bin/tini": "/usr/bin/tini" };
}

/** The shared libraries `file` needs, as absolute paths (from ldd). */
async function libraries(file: string): Promise<string[]> {
  const r = await run("ldd", [file]);
  if (r.code !== 0) throw new Error(`ldd ${file}: ${r.stderr}`);
  return [...r.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1] as string);
}

/** Builds the base image and tags it `name`. */
export async function makeBaseImage(engine: Engine, name: string): Promise<void> {
  if (!existsSync("/usr/bin/tini")) throw new Error("no /usr/bin/tini on this host: apt-get install tini");
  const dir = mkdtempSync(join(tmpdir(), "raftkv-base-"));
  try {
    const files = binaries();
    for (const host of Object.values(files)) {
      for (const lib of await libraries(host)) files[lib] = realpathSync(lib);
    }
    for (const [inImage, host] of Object.entries(files)) {
      mkdirSync(join(dir, dirname(inImage)), { recursive: true });
      copyFileSync(host, join(dir, inImage));
      chmodSync(join(dir, inImage), 0o755);
    }
    mkdirSync(join(dir, "tmp"));
    chmodSync(join(dir, "tmp"), 0o1777);
    mkdirSync(join(dir, "etc"));
    const r = await run(
      "sh",
      ["-c", 'tar -C "$1" -c . | docker import -c "ENV PATH=/usr/local/bin:/usr/bin:/bin" - "$2"', "sh", dir, name],
      {
        env: engine.env,
        timeoutMs: 120_000,
      },
    );
    if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
