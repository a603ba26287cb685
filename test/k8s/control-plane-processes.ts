/**
 * The control plane's child processes: each runs in its own process group with its output in a log file,
 * and every live one is killed (and its work dir removed) when the test process exits or is signalled,
 * even if a test never called stop().
 */

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { basename } from "node:path";

/** One running binary of the control plane. */
export interface Component {
  name: string;
  log: string;
  proc: ChildProcess;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

const live = new Set<Component>();
const dirs = new Set<string>();
let hooked = false;

function killGroup(c: Component, signal: NodeJS.Signals): void {
  if (c.exit || c.proc.pid === undefined) return;
  try {
    process.kill(-c.proc.pid, signal);
  } catch {
    // already gone
  }
}

/** Last-resort cleanup: synchronous, so it also works inside process.on("exit"). */
function killEverything(): void {
  for (const c of live) killGroup(c, "SIGKILL");
  live.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killEverything();
  process.removeListener(signal, onSignal);
  // Re-raise so the default action (exit by that signal) happens, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killEverything);
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
}

/** Removes `dir` when the process exits unless forgetDir() was called first. */
export function cleanupDirOnExit(dir: string): void {
  hook();
  dirs.add(dir);
}

/** Forgets a dir registered with cleanupDirOnExit (after it was removed). */
export function forgetDir(dir: string): void {
  dirs.delete(dir);
}

/** Starts `bin` with `args`, its stdout and stderr appended to `log`. */
export function startComponent(name: string, bin: string, args: string[], log: string): Component {
  hook();
  const fd = openSync(log, "a");
  let proc: ChildProcess;
  try {
    // detached: its own process group, so a kill reaches anything it forks and a Ctrl-C to our group does not
    // race our own ordered shutdown.
    proc = spawn(bin, args, { stdio: ["ignore", fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  // Unreferenced: a test that forgets stop() still lets the process exit, and the exit hook kills this.
  proc.unref();
  const done = Promise.withResolvers<{ code: number | null; signal: NodeJS.Signals | null }>();
  const c: Component = { name, log, proc, exit: undefined, exited: done.promise };
  const finish = (code: number | null, signal: NodeJS.Signals | null) => {
    c.exit ??= { code, signal };
    live.delete(c);
    done.resolve(c.exit);
  };
  proc.once("error", (err) => {
    console.error(`${name}: ${err.message}`);
    finish(-1, null);
  });
  proc.once("exit", finish);
  live.add(c);
  return c;
}

/** Stops a component: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopComponent(c: Component, graceMs: number): Promise<void> {
  if (c.exit) return;
  killGroup(c, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), graceMs);
  });
  if ((await Promise.race([c.exited, timedOut])) === "timeout") {
    killGroup(c, "SIGKILL");
    // A timer keeps the event loop alive while we wait for the unreferenced child.
    const keep = setInterval(() => {}, 1000);
    await c.exited;
    clearInterval(keep);
  }
  clearTimeout(timer);
}

/** The last `lines` lines of a component's log, for error messages. */
export function logTail(c: Component, lines = 30): string {
  if (!existsSync(c.log)) return "(no log)";
  const text = readFileSync(c.log, "utf8").trimEnd().split("\n");
  return text.slice(-lines).join("\n");
}

/** An error saying what failed, with how the component exited (if it did) and its log's tail. */
export function componentError(c: Component, what: string): Error {
  const how = c.exit ? ` (it exited with ${c.exit.signal ?? `code ${c.exit.code}`})` : "";
  return new Error(`${what}${how}; last lines of its log (${basename(c.log)}):\n${logTail(c)}`);
}
