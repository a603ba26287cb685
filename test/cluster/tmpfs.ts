/**
 * Small file systems for disk-full tests: a tmpfs of a few MiB mounted for a
 * test (root only) and a ballast file that fills it to a chosen level.
 */

import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

/** Why tmpfs mounts cannot be made here, or undefined when they can (root with mount). */
export function tmpfsUnavailable(): string | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "mounting a tmpfs needs root";
  const probe = mkdtempSync(join(tmpdir(), "raftkv-tmpfs-probe-"));
  try {
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { encoding: "utf8" });
    if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || "").trim()}`;
    spawnSync("umount", ["-l", probe]);
    return undefined;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `mib` MiB for the test; `beforeUnmount` runs first (stop the processes using it). */
export function mountTmpfs(t: TestContext, mib: number, beforeUnmount: () => Promise<unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "raftkv-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m,mode=0755`, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount -t tmpfs ${dir}: ${r.stderr}`);
  t.after(async () => {
    await beforeUnmount();
    spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(join(dir, "data"));
  return join(dir, "data");
}

/** Bytes available in the file system holding `path`. */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/**
 * Appends zeros to `file` until at most `leaveBytes` are free in its file
 * system (0: until ENOSPC); returns the bytes written.
 */
export function fillDisk(file: string, leaveBytes = 0): number {
  const fd = openSync(file, "a");
  let total = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const buf = Buffer.alloc(size);
      for (;;) {
        if (leaveBytes > 0 && freeBytes(file) - size < leaveBytes) break;
        try {
          total += writeSync(fd, buf);
        } catch {
          break;
        }
      }
      if (leaveBytes > 0 && size <= 4096) break; // page granularity: close enough
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
