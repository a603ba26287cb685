/**
 * `npm start`: a local 3-node cluster on 127.0.0.1 with LevelDB under ./data
 * (HTTP 11001-11003, Raft 12001-12003). Full JSON logs go to
 * data/nodeN.log; the terminal shows a short line per event. Ctrl-C stops
 * all three cleanly (each node gets SIGTERM and exits 0).
 *
 *   npm start                        three nodes
 *   DATA_DIR=/tmp/kv npm start       data elsewhere
 *   KV_STORE=memory npm start        nothing on disk
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const root = join(import.meta.dirname, "..");
const dataDir = resolve(process.env.DATA_DIR ?? join(root, "data"));
const count = 3;
const ids = Array.from({ length: count }, (_, i) => `node${i + 1}`);
const httpPort = (i: number) => 11001 + i;
const raftPort = (i: number) => 12001 + i;
const peers = ids.map((id, i) => `${id}@127.0.0.1:${raftPort(i)}`).join(",");

mkdirSync(dataDir, { recursive: true });
// One secret for the cluster, kept beside the data so restarts keep talking to each other.
const secretFile = join(dataDir, "raft-secret");
if (!existsSync(secretFile)) writeFileSync(secretFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });

const children = new Map<string, ChildProcess>();
let stopping = false;

function summary(line: string): string {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const { ts: _ts, level, msg, node: _node, ...rest } = o;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    return `${String(level).padEnd(5)} ${msg}${fields ? ` ${fields}` : ""}`;
  } catch {
    return line;
  }
}

ids.forEach((id, i) => {
  const log = createWriteStream(join(dataDir, `${id}.log`), { flags: "a" });
  const child = spawn(process.execPath, [join(root, "node", "src", "main.ts")], {
    env: {
      ...process.env,
      NODE_ID: id,
      STATE_DIR: join(dataDir, id),
      KV_STORE: process.env.KV_STORE ?? "leveldb",
      HTTP_ADDR: "127.0.0.1",
      HTTP_PORT: String(httpPort(i)),
      RAFT_ADDR: "127.0.0.1",
      RAFT_PORT: String(raftPort(i)),
      RAFT_ADVERTISE_ADDR: "127.0.0.1",
      PEERS: peers,
      RAFT_SECRET_FILE: secretFile,
    },
    // Own process group: Ctrl-C reaches only this script, which then stops the nodes one by one.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.set(id, child);
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      log.write(`${line}\n`);
      console.log(`${id.padEnd(6)} ${summary(line)}`);
    });
  }
  child.on("exit", (code, signal) => {
    children.delete(id);
    console.log(`${id.padEnd(6)} exited (${signal ?? `code ${code}`})`);
    if (!stopping) console.log(`${id.padEnd(6)} is down; the other nodes go on. Ctrl-C stops the cluster.`);
    if (children.size === 0) process.exit(stopping ? 0 : 1);
  });
});

console.log(`raftkv: 3 nodes, data in ${dataDir} (logs: ${join(dataDir, "node1.log")} ...)

  curl -XPOST localhost:${httpPort(0)}/key -d '{"user1": "batman"}'
  curl localhost:${httpPort(1)}/key/user1
  curl localhost:${httpPort(2)}/status
  curl localhost:${httpPort(0)}/metrics

Any node takes any request (writes are forwarded to the leader). Ctrl-C stops all three.
`);

function stop(signal: string): void {
  if (stopping) {
    console.log("second signal: killing the nodes");
    for (const c of children.values()) c.kill("SIGKILL");
    process.exit(1);
  }
  stopping = true;
  console.log(`${signal}: stopping ${children.size} node(s)`);
  for (const c of children.values()) c.kill("SIGTERM");
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
