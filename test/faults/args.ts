/** Command-line options of the fault runner (see main.ts for the list). */

import { FAULT_TYPES, type FaultType } from "./nemesis.ts";
import { DEFAULTS, type RunOptions } from "./runner.ts";

/** Planted bugs a run can switch on (RAFTKV_TEST_BUG). */
export const BUGS = ["staleFollowerReads", "ackBeforeFsync"];

/** Operations per round of the fault list when --rounds is not given. */
export const OPS_PER_ROUND = 3000;

/** The run's time limit when --max-seconds is not given: generous, about twice what a run takes here. */
export function defaultMaxSeconds(ops: number, faults: number): number {
  return Math.max(600, Math.ceil(60 + 15 * faults + ops / 20));
}

/** Parses argv into run options; throws with a message on bad usage. */
export function parseArgs(argv: readonly string[]): RunOptions & { sweep: boolean } {
  const o: RunOptions & { sweep: boolean } = { ...DEFAULTS, faults: [], sweep: false };
  let faultsGiven = false;
  let roundsGiven = false;
  let maxGiven = false;
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--nodes":
        o.nodes = int(flag, value(), 1);
        break;
      case "--ops":
        o.ops = int(flag, value(), 1);
        break;
      case "--seed":
        o.seed = int(flag, value(), 0);
        break;
      case "--rounds":
        roundsGiven = true;
        o.rounds = int(flag, value(), 1);
        break;
      case "--clients":
        o.clients = int(flag, value(), 1);
        break;
      case "--keys":
        o.keys = int(flag, value(), 1);
        break;
      case "--timeout-ms":
        o.timeoutMs = int(flag, value(), 100);
        break;
      case "--rate":
        o.rate = int(flag, value(), 1);
        break;
      case "--max-seconds":
        maxGiven = true;
        o.maxSeconds = int(flag, value(), 10);
        break;
      case "--hold-ms": {
        const v = value() ?? "";
        const m = /^(\d+)(?:-(\d+))?$/.exec(v);
        if (!m) throw new Error("--hold-ms needs MS or MIN-MAX");
        o.holdMs = [Number(m[1]), Number(m[2] ?? m[1])];
        break;
      }
      case "--net": {
        const v = value();
        if (v !== "auto" && v !== "netns" && v !== "loopback") throw new Error("--net needs auto, netns or loopback");
        o.net = v;
        break;
      }
      case "--bug": {
        const v = value() ?? "";
        if (!BUGS.includes(v)) throw new Error(`--bug needs one of ${BUGS.join(", ")}`);
        o.bug = v;
        break;
      }
      case "--faults": {
        faultsGiven = true;
        const v = (value() ?? "").trim();
        if (v === "none" || v === "") o.faults = [];
        else if (v === "all") o.faults = [...FAULT_TYPES];
        else {
          const list = v.split(",").map((s) => s.trim());
          const bad = list.filter((t) => !(FAULT_TYPES as readonly string[]).includes(t));
          if (bad.length > 0)
            throw new Error(`unknown fault type(s) ${bad.join(", ")}; known: ${FAULT_TYPES.join(", ")}`);
          o.faults = list as FaultType[];
        }
        break;
      }
      case "--keep":
        o.keep = true;
        break;
      case "--discard":
        o.discard = true;
        break;
      case "--sweep":
        o.sweep = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!faultsGiven) o.faults = [...FAULT_TYPES];
  // Long runs keep the density of faults: one round of the list per OPS_PER_ROUND operations.
  if (!roundsGiven) o.rounds = Math.max(1, Math.round(o.ops / OPS_PER_ROUND));
  if (!maxGiven) o.maxSeconds = defaultMaxSeconds(o.ops, o.rounds * o.faults.length);
  return o;
}
