/**
 * Merging status.conditions: a condition keeps its lastTransitionTime while its status stays the same, so
 * an unchanged cluster yields a deep-equal status and the operator does not write it again. Pure.
 */

import type { Condition } from "../raftkv.ts";

/** A condition as computed by one pass, before its transition time is known. */
export type ConditionUpdate = Omit<Condition, "lastTransitionTime">;

/**
 * The conditions to report: `next` in its order, each with the previous lastTransitionTime when a
 * condition of that type had the same status before, else `now`. Conditions of other types are dropped.
 */
export function mergeConditions(
  prev: readonly Condition[] | undefined,
  next: readonly ConditionUpdate[],
  now: string,
): Condition[] {
  return next.map((c) => {
    const before = prev?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : now;
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime,
      observedGeneration: c.observedGeneration,
    };
  });
}
