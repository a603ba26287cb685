/**
 * The `raftkv` CLI run as a child process against real API servers on
 * 127.0.0.1 (FakeNodes over MemoryKv): output, errors and exit codes.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Running, startApp } from "../api/fake-node.ts";
import { freePort } from "../api/helpers.ts";

const CLI = join(import.meta.dirname, "../../../node/src/cli/main.ts");
const SECRET = "cli-secret";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (never synchronously: the servers live in this process). */
function raftkv(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 15_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("raftkv CLI", { timeout: 60_000 }, () => {
  let leader: Running;
  let follower: Running;
  before(async () => {
    leader = await startApp("n1", { adminSecret: SECRET, maxBodyBytes: 1 << 20 });
    follower = await startApp("n2", { adminSecret: SECRET });
    follower.node.role = { kind: "follower", leader: { id: "n1", httpUrl: leader.url } };
  });
  after(async () => {
    await follower.close();
    await leader.close();
  });

  test("kv set / get / del round trip, through a follower", async () => {
    const set = await raftkv(["kv", "set", follower.url, "user/1", '{"name":"batman","n":[1,2]}']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^\{"index":\d+\}\n$/);
    assert.deepEqual(await leader.node.kv.get("user/1"), { name: "batman", n: [1, 2] });
    const get = await raftkv(["kv", "get", follower.url, "user/1"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, '{"name":"batman","n":[1,2]}\n');
    const del = await raftkv(["kv", "del", leader.url, "user/1"]);
    assert.equal(del.code, 0);
    assert.match(del.stdout, /"deleted":1/);
    const missing = await raftkv(["kv", "get", leader.url, "user/1"]);
    assert.equal(missing.code, 3, "a missing key exits 3");
    assert.equal(missing.stdout, "null\n");
  });

  test("values: negative numbers, strings with spaces, keys needing encoding; host:port without scheme", async () => {
    assert.equal((await raftkv(["kv", "set", leader.url, "neg", "-5"])).code, 0);
    assert.equal(await leader.node.kv.get("neg"), -5);
    const hostPort = leader.url.replace("http://", "");
    assert.equal((await raftkv(["kv", "set", hostPort, "a b?c#d%", '"x y"'])).code, 0);
    assert.equal((await raftkv(["kv", "get", hostPort, "a b?c#d%"])).stdout, '"x y"\n');
    assert.equal((await raftkv(["kv", "set", leader.url, "--", "-dash", "1"])).code, 0);
    assert.equal(await leader.node.kv.get("-dash"), 1);
  });

  test("kv get --stale reads the follower's own state", async () => {
    await raftkv(["kv", "set", leader.url, "st", "1"]);
    const r = await raftkv(["kv", "get", follower.url, "st", "--stale"]);
    assert.equal(r.stdout, "null\n", "the fake follower never applies the leader's writes");
    assert.equal(r.code, 3);
  });

  test("kv cas: match exits 0, mismatch exits 3 and shows the current value, --delete", async () => {
    const ok = await raftkv(["kv", "cas", follower.url, "c", "null", '"v1"']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /"ok":true/);
    const miss = await raftkv(["kv", "cas", leader.url, "c", "null", '"v2"']);
    assert.equal(miss.code, 3);
    assert.match(miss.stderr, /^raftkv: CAS_MISMATCH: .*current value: "v1"/);
    assert.equal(miss.stdout, "");
    assert.equal((await raftkv(["kv", "cas", leader.url, "c", '"v1"', "--delete"])).code, 0);
    assert.equal(await leader.node.kv.get("c"), undefined);
  });

  test("kv list: all keys across pages, --prefix, --limit, --after", async () => {
    const kv: Record<string, number> = {};
    for (let i = 0; i < 2100; i++) kv[`l/${String(i).padStart(4, "0")}`] = i;
    const set = await fetch(`${leader.url}/key`, { method: "POST", body: JSON.stringify(kv) });
    assert.equal(set.status, 200);
    const all = await raftkv(["kv", "list", follower.url, "--prefix", "l/"]);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split("\n");
    assert.equal(lines.length, 2100, "pages are followed to the end");
    assert.deepEqual(JSON.parse(lines[0] as string), { key: "l/0000", value: 0 });
    const some = await raftkv(["kv", "list", leader.url, "--prefix=l/", "--limit", "3", "--after", "l/0100"]);
    assert.deepEqual(
      some.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).key),
      ["l/0101", "l/0102", "l/0103"],
    );
  });

  test("cluster status and admin commands, with --secret or RAFTKV_SECRET", async () => {
    const st = await raftkv(["cluster", "status", follower.url]);
    assert.equal(st.code, 0);
    assert.equal(JSON.parse(st.stdout).id, "n2");
    const add = await raftkv([
      "cluster",
      "add",
      follower.url,
      "n7",
      "10.0.0.7:12000",
      "http://10.0.0.7:11000",
      "--secret",
      SECRET,
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(leader.node.members.get("n7")?.role, "learner");
    const env = { RAFTKV_SECRET: SECRET };
    assert.equal((await raftkv(["cluster", "promote", follower.url, "n7"], env)).code, 0);
    assert.equal(leader.node.members.get("n7")?.role, "voter");
    const tl = await raftkv(["cluster", "transfer-leader", leader.url, "n7"], env);
    assert.equal(JSON.parse(tl.stdout).leader, "n7");
    assert.equal(leader.node.calls.at(-1), "transferLeader n7");
    assert.equal((await raftkv(["cluster", "transfer-leader", leader.url], env)).code, 0);
    assert.equal(leader.node.calls.at(-1), "transferLeader -");
    assert.equal((await raftkv(["cluster", "remove", leader.url, "n7"], env)).code, 0);
    const unknown = await raftkv(["cluster", "remove", leader.url, "n7"], env);
    assert.equal(unknown.code, 3, "unknown member exits 3");
    assert.match(unknown.stderr, /UNKNOWN_MEMBER/);
  });

  test("a refused request exits 1 and prints the server's code and message", async () => {
    const noAuth = await raftkv(["cluster", "promote", leader.url, "n1"]);
    assert.equal(noAuth.code, 1);
    assert.match(noAuth.stderr, /^raftkv: UNAUTHORIZED: /);
    const wrong = await raftkv(["cluster", "promote", leader.url, "n1", "--secret", "nope"]);
    assert.match(wrong.stderr, /UNAUTHORIZED: wrong cluster secret/);
    leader.node.role = { kind: "none" };
    try {
      const r = await raftkv(["kv", "set", follower.url, "k", "1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /NO_LEADER: .*retry after 1s/);
    } finally {
      leader.node.role = { kind: "leader" };
    }
    const long = await raftkv(["kv", "get", leader.url, "k".repeat(1025)]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /BAD_KEY/);
  });

  test("an unreachable node exits 1", async () => {
    const port = await freePort();
    const r = await raftkv(["kv", "get", `http://127.0.0.1:${port}`, "k", "--timeout", "3000"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `raftkv: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  test("usage errors exit 2 without sending anything", async () => {
    const before = leader.node.calls.length;
    const cases: string[][] = [
      [],
      ["kv"],
      ["kv", "frob", leader.url],
      ["db", "set"],
      ["kv", "set", leader.url, "k"],
      ["kv", "set", leader.url, "k", "1", "extra"],
      ["kv", "set", leader.url, "k", "not-json"],
      ["kv", "set", leader.url, "k", "null"],
      ["kv", "set", leader.url, "k", "1", "--stale"],
      ["kv", "get", leader.url, "k", "--bogus"],
      ["kv", "get", leader.url, "..", "--stale"],
      ["kv", "cas", leader.url, "k", "1"],
      ["kv", "cas", leader.url, "k", "1", "2", "--delete"],
      ["kv", "list", leader.url, "--limit", "0"],
      ["kv", "list", leader.url, "--limit"],
      ["kv", "get", "ftp://x", "k"],
      ["cluster", "status", leader.url, "--stale"],
    ];
    for (const args of cases) {
      const r = await raftkv(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^raftkv: .+\n$/);
    }
    assert.equal(leader.node.calls.length, before);
  });

  test("--help prints the usage and the exit codes", async () => {
    const r = await raftkv(["--help"]);
    assert.equal(r.code, 0);
    for (const s of [
      "raftkv kv set <url> <key> <json-value>",
      "raftkv cluster transfer-leader <url> [id]",
      "Exit codes:",
    ]) {
      assert.ok(r.stdout.includes(s), s);
    }
    assert.equal((await raftkv(["kv", "get", "-h"])).code, 0);
  });
});
