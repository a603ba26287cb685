/**
 * Small system helpers for the fault runner: synchronous commands (so cleanup
 * also works from an `exit` handler), tool detection, sleeping, and a
 * registry of cleanup steps that runs on normal exit, errors and signals.
 */

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

/** Runs a command synchronously; throws with its stderr when it fails (unless `check` is false). */
export function cmd(file: string, args: string[], check = true): { ok: boolean; out: string; err: string } {
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 20_000 });
  const ok = r.status === 0 && !r.error;
  if (!ok && check) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout || `exit ${r.status}`).trim();
    throw new Error(`${file} ${args.join(" ")}: ${why}`);
  }
  return { ok, out: r.stdout ?? "", err: r.stderr ?? "" };
}

/** The absolute path of `name` on PATH or in the sbin directories, or undefined. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const d of dirs) {
    if (d && existsSync(`${d}/${name}`)) return `${d}/${name}`;
  }
  return undefined;
}

/** True when running as root. */
export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True when a process with this pid exists (zombies included). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The start time of a process in clock ticks since boot (field 22 of /proc/pid/stat), or undefined. */
export function pidStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** True when process `pid` has `NAME=value` in its environment (so it is one we started). */
export function pidHasEnv(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(entry);
  } catch {
    return false;
  }
}

type Step = { name: string; run: () => void };

/**
 * Cleanup steps, run last-registered first. `runAll` is idempotent and
 * synchronous; `installHandlers` makes SIGINT/SIGTERM/exit/uncaught errors run it.
 */
export class Cleanup {
  #steps: Step[] = [];
  #done = false;

  /** Registers a step; returns a function that runs it now (once) and unregisters it. */
  add(name: string, run: () => void): () => void {
    const step = { name, run };
    this.#steps.push(step);
    return () => {
      const i = this.#steps.indexOf(step);
      if (i < 0) return;
      this.#steps.splice(i, 1);
      this.#safe(step);
    };
  }

  #safe(s: Step): void {
    try {
      s.run();
    } catch (e) {
      process.stderr.write(`cleanup: ${s.name}: ${(e as Error).message}\n`);
    }
  }

  /** Runs every step (last first). */
  runAll(): void {
    if (this.#done) return;
    this.#done = true;
    for (const s of this.#steps.reverse()) this.#safe(s);
    this.#steps = [];
  }

  /** Runs every step on exit, SIGINT, SIGTERM, SIGHUP and uncaught errors. */
  installHandlers(): void {
    process.on("exit", () => this.runAll());
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.on(sig, () => {
        process.stderr.write(`\nfaults: ${sig}: cleaning up\n`);
        this.runAll();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
    }
    process.on("uncaughtException", (e) => {
      process.stderr.write(`faults: uncaught error: ${e.stack ?? e.message}\n`);
      this.runAll();
      process.exit(2);
    });
    process.on("unhandledRejection", (e) => {
      process.stderr.write(`faults: unhandled rejection: ${(e as Error)?.stack ?? String(e)}\n`);
      this.runAll();
      process.exit(2);
    });
  }
}
