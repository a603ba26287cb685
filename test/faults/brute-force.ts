/**
 * Reference checker for tiny histories: tries every order allowed by real
 * time, with no cleverness, so the fast checker can be cross-checked against
 * it on random inputs. Exponential; use on a dozen operations at most.
 */
import type { NormalizedOp, Operation } from "./history.ts";
import { canonicalJson, normalizeOp } from "./history.ts";

/** True iff some order of the operations respects real time and the sequential key-value semantics. */
export function bruteForceLinearizable(history: readonly Operation[]): boolean {
  // Keys are not separated: any key mix is fine, just slower.
  const ops = history
    .map(normalizeOp)
    .filter((o) => o.status !== "fail" && !(o.status === "unknown" && o.kind === "get"));
  const used = ops.map(() => false);
  const step = (o: NormalizedOp, state: Map<string, string>): Map<string, string> | undefined => {
    const cur = state.get(o.key) ?? "null";
    const next = (v: string): Map<string, string> => new Map(state).set(o.key, v);
    const expectMatches = cur === canonicalJson(o.expect);
    if (o.kind === "set") return next(canonicalJson(o.value));
    if (o.kind === "delete") return next("null");
    if (o.kind === "get") return cur === canonicalJson(o.output) ? state : undefined;
    if (o.status === "unknown") return expectMatches ? next(canonicalJson(o.value)) : state;
    if (o.output === true) return expectMatches ? next(canonicalJson(o.value)) : undefined;
    return expectMatches ? undefined : state;
  };
  const failed = new Set<string>(); // (used set, state) already shown hopeless
  const rec = (state: Map<string, string>): boolean => {
    // Unknown-outcome operations left over simply never happened.
    if (ops.every((o, i) => used[i] || o.status === "unknown")) return true;
    const memo = `${used.map(Number).join("")}|${[...state].sort().join(";")}`;
    if (failed.has(memo)) return false;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i] as NormalizedOp;
      // o may go next unless a still-unused operation returned before o was called.
      if (used[i] || ops.some((q, j) => !used[j] && j !== i && q.ret < o.call)) continue;
      const after = step(o, state);
      if (!after) continue;
      used[i] = true;
      if (rec(after)) return true;
      used[i] = false;
    }
    failed.add(memo);
    return false;
  };
  return rec(new Map());
}
