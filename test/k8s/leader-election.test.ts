/**
 * Lease leader election against a real API server: of two electors exactly one leads; a stopped leader
 * hands over at once (it releases the Lease), a killed one within the lease duration; a leader that
 * cannot renew gives up within its deadline; and over every run no two ever lead at the same moment.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { LeaderElector, type LeaderElectorOptions } from "../../operator/src/kube/leader-election.ts";
import { silentLogger } from "../../operator/src/log.ts";
import { type ControlPlane, startControlPlane } from "./control-plane.ts";

const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, renewPeriodMs: 500, retryPeriodMs: 250 };
const OUTAGE_TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 1000, renewPeriodMs: 300, retryPeriodMs: 200 };

let cp: ControlPlane;
let coordination: CoordinationV1Api;

/** Polls `f` every 10 ms until it returns true; fails after `ms`. */
async function until(what: string, ms: number, f: () => boolean): Promise<number> {
  const start = Date.now();
  while (!f()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/** Who believes it leads, by callbacks, and every moment two did at once. */
class Watchdog {
  readonly leading = new Set<string>();
  readonly overlaps: string[] = [];
  readonly starts: string[] = [];
  started(id: string): void {
    this.leading.add(id);
    this.starts.push(id);
    if (this.leading.size > 1) this.overlaps.push(`${[...this.leading].join(" and ")} at ${new Date().toISOString()}`);
  }
  stopped(id: string): void {
    this.leading.delete(id);
  }
}

function elector(lease: string, id: string, dog: Watchdog, timing: Partial<LeaderElectorOptions> = TIMING) {
  return new LeaderElector({
    coordination,
    namespace: "default",
    name: lease,
    identity: id,
    logger: silentLogger,
    ...timing,
    onStartedLeading: () => dog.started(id),
    onStoppedLeading: () => dog.stopped(id),
  });
}

/** Samples isLeader() of all electors every 5 ms and records any moment two said yes. */
function sampleIsLeader(electors: Map<string, LeaderElector>, dog: Watchdog): () => void {
  const t = setInterval(() => {
    const yes = [...electors].filter(([, e]) => e.isLeader()).map(([id]) => id);
    if (yes.length > 1) dog.overlaps.push(`isLeader() of ${yes.join(" and ")}`);
  }, 5);
  return () => clearInterval(t);
}

describe("leader election on a Lease", () => {
  before(
    async () => {
      cp = await startControlPlane({ controllerManager: false });
      coordination = cp.kc.makeApiClient(CoordinationV1Api);
    },
    { timeout: 40 * 60_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  it("exactly one of two leads; stopping it hands over at once; never two at once", async (t) => {
    const dog = new Watchdog();
    const electors = new Map([
      ["a", elector("pair", "a", dog)],
      ["b", elector("pair", "b", dog)],
    ]);
    const stopSampling = sampleIsLeader(electors, dog);
    t.after(async () => {
      stopSampling();
      await Promise.all([...electors.values()].map((e) => e.stop()));
    });
    for (const e of electors.values()) e.start();
    await until("a leader", 10_000, () => dog.leading.size === 1);
    // Several renewals go by and nothing changes.
    await new Promise((r) => setTimeout(r, 3 * TIMING.leaseDurationMs));
    assert.equal(dog.starts.length, 1, `leadership changed hands without cause: ${dog.starts}`);
    const first = dog.starts[0] ?? "";
    const other = first === "a" ? "b" : "a";
    assert.equal(electors.get(first)?.isLeader(), true);
    assert.equal(electors.get(other)?.isLeader(), false);
    const lease = await coordination.readNamespacedLease({ name: "pair", namespace: "default" });
    assert.equal(lease.spec?.holderIdentity, first);

    const stopped = Date.now();
    await electors.get(first)?.stop();
    const took = await until(`${other} to lead`, TIMING.leaseDurationMs + 2000, () => dog.leading.has(other));
    assert.ok(Date.now() - stopped < TIMING.leaseDurationMs, `hand-over took ${took} ms`);
    assert.deepEqual(dog.overlaps, []);
    const after = await coordination.readNamespacedLease({ name: "pair", namespace: "default" });
    assert.equal(after.spec?.holderIdentity, other);
    assert.equal(after.spec?.leaseTransitions, 1);

    // The survivor stopping releases the Lease: no holder.
    await electors.get(other)?.stop();
    const released = await coordination.readNamespacedLease({ name: "pair", namespace: "default" });
    assert.equal(released.spec?.holderIdentity ?? "", "");
  });

  it("a killed leader is replaced within the lease duration, never while it could still lead", async (t) => {
    const dog = new Watchdog();
    const child: ChildProcess = spawn(process.execPath, [join(import.meta.dirname, "leader-elector-process.ts")], {
      env: {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: cp.kubeconfig,
        LEASE_NAME: "killed",
        IDENTITY: "child",
        TIMING: JSON.stringify(TIMING),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let childLeading = false;
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      for (const line of d.trim().split("\n")) {
        const ev = (JSON.parse(line) as { event: string }).event;
        childLeading = ev === "started";
        if (ev === "started") dog.started("child");
        else dog.stopped("child");
      }
    });
    const exited = new Promise((r) => child.once("exit", r));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    await until("the child process to lead", 20_000, () => childLeading);

    const local = elector("killed", "local", dog);
    const stopSampling = sampleIsLeader(new Map([["local", local]]), dog);
    t.after(async () => {
      stopSampling();
      await local.stop();
    });
    local.start();
    await new Promise((r) => setTimeout(r, 2 * TIMING.leaseDurationMs));
    assert.equal(local.isLeader(), false, "took the Lease from a live leader");

    child.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    dog.stopped("child");
    await until("the local elector to lead", TIMING.leaseDurationMs + 3000, () => local.isLeader());
    const took = Date.now() - killedAt;
    // It must wait out the lease from its last sight of a renewal, and not much longer.
    assert.ok(took >= TIMING.leaseDurationMs - TIMING.renewPeriodMs - 100, `took over after only ${took} ms`);
    assert.ok(took <= TIMING.leaseDurationMs + 2 * TIMING.retryPeriodMs + 1000, `took ${took} ms`);
    assert.deepEqual(dog.overlaps, []);
  });

  it("a leader that cannot renew gives up within its deadline, and leads again once the API is back", async (t) => {
    const dog = new Watchdog();
    // A short deadline, so the leader gives up well within the seconds the API server is away.
    const e = elector("outage", "solo", dog, { ...OUTAGE_TIMING });
    t.after(() => e.stop());
    e.start();
    await until("solo to lead", 10_000, () => e.isLeader());

    const restart = cp.restartApiServer();
    const lostAfter = await until("solo to stop leading while the API server is down", 60_000, () => !e.isLeader());
    const limit = OUTAGE_TIMING.renewDeadlineMs + OUTAGE_TIMING.renewPeriodMs + 1000;
    assert.ok(lostAfter <= limit, `gave up after ${lostAfter} ms`);
    await until("onStoppedLeading", 1000, () => !dog.leading.has("solo"));
    await restart;
    await until("solo to lead again", 20_000, () => e.isLeader() && dog.leading.has("solo"));
    assert.deepEqual(dog.starts, ["solo", "solo"]);
  });

  it("refuses timings where a deposed leader could overlap its successor", () => {
    assert.throws(
      () => elector("x", "y", new Watchdog(), { leaseDurationMs: 2000, renewDeadlineMs: 2000 }),
      /renewDeadline/,
    );
    assert.throws(
      () => elector("x", "y", new Watchdog(), { leaseDurationMs: 3000, renewDeadlineMs: 2000, renewPeriodMs: 2000 }),
      /renewPeriod/,
    );
  });
});
