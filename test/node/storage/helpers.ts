/** Shared helpers for storage and KV tests: temp dirs and entry builders. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { Entry, Membership, Snapshot } from "../../../node/src/raft/types.ts";

/** A fresh temporary directory removed after the test. */
export function tempDir(t: TestContext, name = "raftkv-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Entries from..to (inclusive) with one term. */
export function entries(from: number, to: number, term: number, data = "d"): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: "normal", data: `${data}${i}` });
  return out;
}

/** A membership of the given voters. */
export function members(...ids: string[]): Membership {
  return { voters: Object.fromEntries(ids.map((id) => [id, `inc-${id}`])), learners: {} };
}

/** A snapshot at index/term. */
export function snap(index: number, term: number, data = `state@${index}`): Snapshot {
  return { meta: { index, term, config: members("a", "b", "c") }, data };
}
