/**
 * Crash safety: a child process writes the log and the KV data as a node
 * would; we SIGKILL it at a random moment, reopen, and check that the store
 * is readable, the log is contiguous and consistent with the hard state, no
 * acknowledged write was lost, and the KV data matches its applied index,
 * which is never below what the writer last flushed or the snapshot.
 * Runs several kills on the same directory so recovery is itself recovered.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseCommand } from "../../../node/src/kv/command.ts";
import { LeveldbKv } from "../../../node/src/kv/leveldb-kv.ts";
import { LeveldbLogStore } from "../../../node/src/storage/leveldb-log-store.ts";
import { tempDir } from "./helpers.ts";

const WRITER = fileURLToPath(new URL("./fixtures/crash-writer.ts", import.meta.url));
const ROUNDS = 5;

/** Runs the writer, kills it `delayMs` after its first ack, returns the last ack seen. */
function runAndKill(dir: string, delayMs: number): Promise<{ last: number; flushed: number; acks: number }> {
  return new Promise((resolve, reject) => {
    // process.execPath is the Node 24 running this test (npx node), without npx's startup cost.
    const child = spawn(process.execPath, [WRITER, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    let stderr = "";
    let acked = { last: 0, flushed: 0, acks: 0 };
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^acked (\d+) (\d+)$/.exec(line);
        if (m) acked = { last: Number(m[1]), flushed: Number(m[2]), acks: acked.acks + 1 };
      }
      timer ??= setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (_code, signal) => {
      clearTimeout(guard);
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`writer exited on its own (${_code}): ${stderr}`));
      else if (acked.acks === 0) reject(new Error(`writer was killed before its first ack: ${stderr}`));
      else resolve(acked);
    });
  });
}

test("SIGKILL at random moments never leaves an unreadable or inconsistent store", { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, "raftkv-crash-");
  for (let round = 0; round < ROUNDS; round++) {
    const delay = 100 + Math.floor(Math.random() * 500);
    const acked = await runAndKill(dir, delay);

    const store = await LeveldbLogStore.open(dir);
    const kv = await LeveldbKv.open(store.db);
    try {
      const state = await store.load();
      assert.ok(state, "state must exist after acknowledged saves");
      const snapIndex = state.snapshot?.meta.index ?? 0;
      const last = state.entries[state.entries.length - 1]?.index ?? snapIndex;
      assert.ok(last >= acked.last, `acknowledged index ${acked.last} lost (last is ${last})`);
      assert.ok(state.hardState.commit <= last);
      for (const e of state.entries) {
        const c = parseCommand(e.data);
        assert.ok(c.ok && c.value.op === "set" && c.value.kv.last === e.index, `entry ${e.index} carries wrong data`);
      }
      // KV: never ahead of the durable commit; it may trail what was applied (writes on their way to
      // LevelDB die with the process), but never below the snapshot: the log holds what replay needs.
      assert.ok(kv.applied <= state.hardState.commit, `applied ${kv.applied} > commit ${state.hardState.commit}`);
      assert.ok(kv.applied >= snapIndex, `applied ${kv.applied} < snapshot ${snapIndex}: replay impossible`);
      assert.ok(kv.applied >= acked.flushed, `applied went back from ${acked.flushed} (flushed) to ${kv.applied}`);
      assert.equal(await kv.get("last"), kv.applied);
      for (let j = 0; j < 7; j++) {
        const expected = [...Array(kv.applied + 1).keys()].filter((i) => i > 0 && i % 7 === j).pop();
        assert.equal(await kv.get(`k${j}`), expected, `k${j} does not match applied ${kv.applied}`);
      }
      t.diagnostic(`round ${round}: killed after ${delay} ms, ${acked.acks} acks, last ${last}, applied ${kv.applied}`);
    } finally {
      await kv.close();
      await store.close();
    }
  }
});
