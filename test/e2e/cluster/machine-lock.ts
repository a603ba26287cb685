/**
 * One e2e cluster per machine at a time: it uses fixed address ranges, host-wide iptables chains and
 * kubepods cgroups. The lock is a file holding the owner's PID; a dead owner's lock is taken over.
 */

import { readFileSync, unlinkSync, writeFileSync } from "node:fs";

const LOCK = "/run/raftkv-e2e-cluster.lock";
const WAIT_MS = 30 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Waits (up to 30 min) until this process holds the machine's e2e cluster lock. */
export async function acquireMachineLock(): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (Date.now() < end) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: "wx" });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(LOCK, "utf8").trim() || "0");
    } catch {
      continue; // released meanwhile
    }
    if (owner === process.pid) throw new Error("an e2e cluster is already running in this process");
    if (!owner || !alive(owner)) {
      unlinkSync(LOCK);
      continue;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`another e2e cluster held ${LOCK} for ${WAIT_MS / 60_000} min`);
}

/** Releases the lock if this process holds it. */
export function releaseMachineLock(): void {
  try {
    if (readFileSync(LOCK, "utf8").trim() === String(process.pid)) unlinkSync(LOCK);
  } catch {
    // not held
  }
}
