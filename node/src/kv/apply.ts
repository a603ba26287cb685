/**
 * The deterministic core of the state machine: how one entry changes a view
 * of the keys. Both stores run exactly this code, so they cannot disagree.
 */

import type { Entry } from "../raft/types.ts";
import { type Command, type JsonValue, jsonEqual, parseCommand } from "./command.ts";
import type { ApplyResult } from "./kv-store.ts";

/** Reads and writes one implementation offers to `applyEntry`; `undefined` = absent. */
export interface KvView {
  read(key: string): JsonValue | undefined;
  write(key: string, value: JsonValue | undefined): void;
}

/** Applies one command to the view. */
export function applyCommand(cmd: Command, view: KvView): ApplyResult {
  switch (cmd.op) {
    case "set":
      for (const [k, v] of Object.entries(cmd.kv)) view.write(k, v);
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
export function entryCommand(e: Entry): Command | null | { invalid: string } {
  if (e.type !== "normal") return null;
  const p = parseCommand(e.data);
  return p.ok ? p.value : { invalid: p.error };
}

/** Applies one entry (parsed by `entryCommand`) to the view. */
export function applyParsed(c: Command | null | { invalid: string }, view: KvView): ApplyResult {
  if (c === null) return { op: "none", ok: true };
  if ("invalid" in c) return { op: "invalid", ok: false, error: c.invalid };
  return applyCommand(c, view);
}

/** Keys an entry's command reads, so a disk store can fetch them in one round trip. */
export function keysRead(c: Command | null | { invalid: string }): string[] {
  if (c === null || "invalid" in c) return [];
  if (c.op === "del") return c.keys;
  if (c.op === "cas") return [c.key];
  return [];
}
