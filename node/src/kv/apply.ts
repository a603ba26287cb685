/**
 * The deterministic core of the state machine: how one entry changes a view
 * of the keys. Both stores run exactly this code, so they cannot disagree.
 */

import type { Entry } from "../raft/types.ts";
import { type Command, type JsonValue, jsonEqual, keyProblem, parseCommand, type SetCommand } from "./command.ts";
import type { ApplyResult } from "./kv-store.ts";
import { type KvPairs, plainSetPairs } from "./set-pairs.ts";

/** A command as the apply path takes it: a set's writes as pairs (set-pairs.ts says why). */
export type AppliedCommand = Exclude<Command, SetCommand> | { op: "set"; pairs: KvPairs };

/** Reads and writes one implementation offers to `applyEntry`; `undefined` = absent. */
export interface KvView {
  read(key: string): JsonValue | undefined;
  write(key: string, value: JsonValue | undefined): void;
}

/** Applies one command to the view. */
export function applyCommand(cmd: AppliedCommand, view: KvView): ApplyResult {
  switch (cmd.op) {
    case "set":
      for (const [k, v] of cmd.pairs) view.write(k, v);
      return { op: "set", ok: true };
    case "del": {
      let deleted = 0;
      for (const k of new Set(cmd.keys)) {
        if (view.read(k) !== undefined) {
          deleted++;
          view.write(k, undefined);
        }
      }
      return { op: "del", ok: true, deleted };
    }
    case "cas": {
      const current = view.read(cmd.key) ?? null;
      const matches = cmd.expect === null ? current === null : current !== null && jsonEqual(current, cmd.expect);
      if (!matches) return { op: "cas", ok: false, current };
      const next = "del" in cmd ? undefined : cmd.value;
      view.write(cmd.key, next);
      return { op: "cas", ok: true, current: next ?? null };
    }
  }
}

/** The command carried by an entry, null for noop/config, or the reason it is invalid. */
export function entryCommand(e: Entry): AppliedCommand | null | { invalid: string } {
  if (e.type !== "normal") return null;
  const pairs = plainSetPairs(e.data);
  if (pairs?.every(([k]) => keyProblem(k) === undefined)) return { op: "set", pairs };
  const p = parseCommand(e.data);
  if (!p.ok) return { invalid: p.error };
  return p.value.op === "set" ? { op: "set", pairs: Object.entries(p.value.kv) } : p.value;
}

/**
 * True when `data` is a valid set command as encodeCommand writes it (`op` first): its answer does not depend
 * on the state. Anything else is answered once applied.
 */
export function isSetCommand(data: string): boolean {
  const pairs = plainSetPairs(data);
  if (pairs?.every(([k]) => keyProblem(k) === undefined)) return true;
  if (!data.startsWith('{"op":"set"')) return false;
  const p = parseCommand(data);
  return p.ok && p.value.op === "set";
}

/** Applies one entry (parsed by `entryCommand`) to the view. */
export function applyParsed(c: AppliedCommand | null | { invalid: string }, view: KvView): ApplyResult {
  if (c === null) return { op: "none", ok: true };
  if ("invalid" in c) return { op: "invalid", ok: false, error: c.invalid };
  return applyCommand(c, view);
}

/** Keys an entry's command reads, so a disk store can fetch them in one round trip. */
export function keysRead(c: AppliedCommand | null | { invalid: string }): string[] {
  if (c === null || "invalid" in c) return [];
  if (c.op === "del") return c.keys;
  if (c.op === "cas") return [c.key];
  return [];
}
