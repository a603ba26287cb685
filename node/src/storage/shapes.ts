/**
 * Runtime checks of the persisted Raft types: a value that parsed as JSON is
 * not yet an Entry. Each returns a description of the problem, or undefined.
 */

import type { Membership } from "../raft/types.ts";

const ENTRY_TYPES = new Set(["normal", "config", "noop"]);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Problem with a value that should be an Entry. */
export function entryProblem(v: unknown): string | undefined {
  if (!isObj(v)) return "entry is not an object";
  if (!isIndex(v.index) || v.index < 1) return `entry index ${String(v.index)} is not a positive integer`;
  if (!isIndex(v.term)) return `entry ${v.index} has term ${String(v.term)}, not a non-negative integer`;
  if (typeof v.type !== "string" || !ENTRY_TYPES.has(v.type)) return `entry ${v.index} has unknown type ${v.type}`;
  if (typeof v.data !== "string") return `entry ${v.index} has non-string data`;
  return undefined;
}

/** Problem with a value that should be a HardState. */
export function hardStateProblem(v: unknown): string | undefined {
  if (!isObj(v)) return "hard state is not an object";
  if (!isIndex(v.term)) return `hard state term ${String(v.term)} is not a non-negative integer`;
  if (typeof v.vote !== "string") return "hard state vote is not a string";
  if (!isIndex(v.commit)) return `hard state commit ${String(v.commit)} is not a non-negative integer`;
  return undefined;
}

function isMembers(v: unknown): boolean {
  return isObj(v) && Object.values(v).every((x) => typeof x === "string");
}

function isMembership(v: unknown): v is Membership {
  return isObj(v) && isMembers(v.voters) && isMembers(v.learners);
}

/** Problem with a value that should be a SnapshotMeta. */
export function snapshotMetaProblem(v: unknown): string | undefined {
  if (!isObj(v)) return "snapshot meta is not an object";
  if (!isIndex(v.index)) return `snapshot index ${String(v.index)} is not a non-negative integer`;
  if (!isIndex(v.term)) return `snapshot term ${String(v.term)} is not a non-negative integer`;
  if (!isMembership(v.config)) return "snapshot config is not a membership";
  return undefined;
}
