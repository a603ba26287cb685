/**
 * Forged Raft messages against a real 3-node cluster's Raft ports.
 *
 * Without the secret, with a wrong one, or with the right one and another
 * cluster id: 401/403 before the body is read (even a body declared at
 * 100 MiB), and no state change. With the right secret and cluster id but
 * malformed requests (bad JSON, wrong shapes, missing fields, wrong types,
 * negative, fractional or huge numbers, huge arrays, oversize bodies, and
 * well-typed messages no correct peer sends: gaps in appended entries, terms
 * above the message's, garbage config entries and snapshots): a 4xx JSON
 * {code, error}, no crash, and no change of term, commit index, last index,
 * leader or members on any node. Afterwards the cluster still replicates,
 * including a snapshot sent in several chunks to a follower that fell behind,
 * so the transport's checks do not refuse real traffic.
 *
 * RAFTKV_FUZZ_SEED=N replays a run.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../node/src/raft/rng.ts";
import { type Status, TestCluster, waitFor } from "../cluster/harness.ts";
import { encodeRequest, pool, type RawReply, rawSend, readAll } from "./raw-http.ts";

const SEED = Number(process.env.RAFTKV_FUZZ_SEED ?? 7_500_601);
const SECRET = "hostile-raft-secret";
const CLUSTER = "raftkv";
const LANES = ["append", "vote", "snapshot", "timeout-now"] as const;
const TYPES_OF: Record<(typeof LANES)[number], string[]> = {
  append: ["app", "appResp", "heartbeat", "heartbeatResp", "readIndex", "readIndexResp"],
  vote: ["preVote", "preVoteResp", "vote", "voteResp"],
  snapshot: ["snap", "snapResp"],
  "timeout-now": ["timeoutNow"],
};

type Headers = Array<[string, string]>;
const good: Headers = [
  ["Authorization", `Bearer ${SECRET}`],
  ["X-Raftkv-Cluster", CLUSTER],
];

function post(path: string, headers: Headers, body: string | Buffer, ct = "application/json"): Buffer {
  return encodeRequest({ method: "POST", target: path, headers: [["Content-Type", ct], ...headers], body });
}

/** The facts that must not move: per node term, commit, last index, leader and members. */
function facts(s: Status & { lastLogIndex?: number }) {
  return {
    term: s.term,
    commit: s.commitIndex,
    last: s.lastLogIndex,
    leader: s.leader?.id,
    members: s.members.map((m) => `${m.id}:${m.role}:${m.incarnation}`).join(","),
  };
}

async function allFacts(c: TestCluster) {
  return Promise.all(
    [0, 1, 2].map(async (i) => {
      const s = await c.status(i);
      assert.ok(s, `node ${i} does not answer /status`);
      return facts(s);
    }),
  );
}

/** Checks a refusal: the status (or any 4xx), a JSON {code, error}. */
function refused(r: RawReply, what: string, status?: number): string | undefined {
  if (r.timedOut) return `${what}: no answer (hang)`;
  if (r.status === undefined) return `${what}: connection closed without an answer`;
  if (status !== undefined ? r.status !== status : r.status < 400 || r.status >= 500) {
    return `${what}: expected ${status ?? "a 4xx"}, got ${r.status} ${r.body.toString().slice(0, 200)}`;
  }
  const b = r.json as { code?: unknown; error?: unknown } | undefined;
  if (typeof b?.code !== "string" || typeof b.error !== "string") return `${what}: body ${r.body.toString()}`;
  return undefined;
}

test(`forged Raft traffic (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  // A snapshot every SNAPSHOT_THRESHOLD entries (no log-growth wait), so a follower that was down falls
  // behind the compacted log and must be caught up by snapshot.
  const c = await TestCluster.create(t, {
    size: 3,
    secret: SECRET,
    env: { SNAPSHOT_THRESHOLD: "20", SNAPSHOT_LOG_RATIO: "0" },
  });
  c.startAll();
  const li = await c.waitLeader();
  assert.equal((await c.http(li, "POST", "/key", { before: "forgery" })).status, 200);
  await waitFor("every node applied the first write", 10_000, async () => {
    const sts = await Promise.all([0, 1, 2].map((i) => c.status(i)));
    const ci = sts[li]?.commitIndex;
    return sts.every((s) => s && s.appliedIndex === ci) ? true : undefined;
  });
  const rng = new Rng(SEED);
  const leaderId = c.nodes[li]?.id as string;
  const st0 = (await c.status(li)) as Status & { lastLogIndex: number };
  const term = st0.term;
  const last = st0.lastLogIndex;
  const before = await allFacts(c);
  const dataBefore = await readAll(c, li);

  /** A well-formed message of `type` from the leader to node `to` at the current term. */
  const msg = (type: string, to: string, extra: Record<string, unknown> = {}) => ({
    type,
    from: leaderId,
    to,
    term,
    fromInc: "forged-inc",
    ...extra,
  });
  const target = () => rng.int(0, 3);
  const portOf = (i: number) => c.nodes[i]?.raftPort as number;
  const idOf = (i: number) => c.nodes[i]?.id as string;

  await t.test("without the secret, with a wrong one, or another cluster id: 401/403, body unread", async (st) => {
    const damaging = (to: string) =>
      JSON.stringify([
        { type: "vote", from: "node9", to, term: term + 1000, fromInc: "x", index: 1e6, logTerm: 1e6, force: true },
      ]);
    const variants: Array<[string, Headers, number]> = [
      ["no headers", [], 401],
      ["no secret", [["X-Raftkv-Cluster", CLUSTER]], 401],
      [
        "wrong secret",
        [
          ["Authorization", "Bearer wrong"],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "secret with a suffix",
        [
          ["Authorization", `Bearer ${SECRET}x`],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "secret prefix only",
        [
          ["Authorization", `Bearer ${SECRET.slice(0, 5)}`],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "lowercase scheme",
        [
          ["Authorization", `bearer ${SECRET}`],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "Basic scheme",
        [
          ["Authorization", `Basic ${Buffer.from(`x:${SECRET}`).toString("base64")}`],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "bare secret",
        [
          ["Authorization", SECRET],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      [
        "empty bearer",
        [
          ["Authorization", "Bearer "],
          ["X-Raftkv-Cluster", CLUSTER],
        ],
        401,
      ],
      ["right secret, no cluster id", [["Authorization", `Bearer ${SECRET}`]], 403],
      [
        "right secret, other cluster",
        [
          ["Authorization", `Bearer ${SECRET}`],
          ["X-Raftkv-Cluster", "other"],
        ],
        403,
      ],
      [
        "right secret, cluster id in other case",
        [
          ["Authorization", `Bearer ${SECRET}`],
          ["X-Raftkv-Cluster", "RAFTKV"],
        ],
        403,
      ],
      [
        "right secret, empty cluster id",
        [
          ["Authorization", `Bearer ${SECRET}`],
          ["X-Raftkv-Cluster", ""],
        ],
        403,
      ],
    ];
    const cases: Array<{ what: string; req: Buffer; status: number; port: number }> = [];
    for (let k = 0; k < 400; k++) {
      const [name, headers, status] = rng.pick(variants);
      const i = target();
      const path = rng.pick([
        "/raft/v1/append",
        "/raft/v1/vote",
        "/raft/v1/snapshot",
        "/raft/v1/timeout-now",
        "/raft/v1/join",
        "/raft/v1/info",
        "/raft/v1/nope",
      ]);
      const join = JSON.stringify({
        id: "node9",
        incarnation: "x",
        raftAddr: "127.0.0.1:1",
        httpUrl: "http://127.0.0.1:1",
        mode: "join",
      });
      let req: Buffer;
      if (path === "/raft/v1/info") req = encodeRequest({ method: "GET", target: path, headers });
      else if (rng.chance(0.1)) {
        // A body declared at 100 MiB: refused on the headers, never read.
        req = encodeRequest({
          method: "POST",
          target: path,
          headers: [...headers, ["Content-Length", String(100 << 20)]],
          body: "[",
        });
      } else req = post(path, headers, path.endsWith("join") ? join : damaging(idOf(i)));
      cases.push({ what: `${name} ${path}`, req, status, port: portOf(i) });
    }
    const replies = await pool(
      16,
      cases.map((k) => () => rawSend(k.port, k.req, { timeoutMs: 10_000 })),
    );
    const problems = cases.flatMap((k, j) => {
      const p = refused(replies[j] as RawReply, k.what, k.status);
      return p ? [p] : [];
    });
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} wrong answers (seed ${SEED})`);
    for (const [j, r] of replies.entries()) {
      assert.equal(r.headers.connection, "close", `${cases[j]?.what}: the connection must be closed`);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await allFacts(c), before, "state changed after unauthenticated requests");
    st.diagnostic(`${cases.length} unauthenticated requests refused`);
  });

  await t.test("with the secret, malformed requests get 4xx and change nothing", async (st) => {
    type Forged = { what: string; path: string; body: string | Buffer; ct?: string; status?: number; from?: string };
    const gens: Array<(to: string) => Forged> = [
      () => ({ what: "garbage", path: `/raft/v1/${rng.pick(LANES)}`, body: "\u0000garbage{[", status: 400 }),
      (to) => {
        const full = JSON.stringify([msg("heartbeat", to, { commit: 0 })]);
        return {
          what: "truncated batch",
          path: "/raft/v1/append",
          body: full.slice(0, rng.int(1, full.length - 1)),
          status: 400,
        };
      },
      () => ({ what: "NaN literal", path: "/raft/v1/append", body: '[{"type":"heartbeat","term":NaN}]', status: 400 }),
      () => ({
        what: "invalid UTF-8",
        path: "/raft/v1/append",
        body: Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]),
        status: 400,
      }),
      (to) => ({
        what: "object, not array",
        path: "/raft/v1/append",
        body: JSON.stringify(msg("heartbeat", to)),
        status: 400,
      }),
      () => ({
        what: "scalar body",
        path: `/raft/v1/${rng.pick(LANES)}`,
        body: rng.pick(["1", '"x"', "null", "true"]),
        status: 400,
      }),
      (to) => ({
        what: "text/plain body",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("heartbeat", to)]),
        ct: "text/plain",
        status: 400,
      }),
      () => ({
        what: "non-objects in batch",
        path: "/raft/v1/vote",
        body: JSON.stringify([1, "x", null, []]),
        status: 400,
      }),
      (to) => {
        const lane = rng.pick(LANES);
        const other = rng.pick(LANES.filter((l) => l !== lane));
        return {
          what: `a ${other} message on ${lane}`,
          path: `/raft/v1/${lane}`,
          body: JSON.stringify([msg(rng.pick(TYPES_OF[other]), to, { index: 0, logTerm: 0 })]),
          status: 400,
        };
      },
      (to) => ({
        what: "unknown type",
        path: "/raft/v1/append",
        body: JSON.stringify([msg(rng.pick(["hack", "__proto__", "constructor", "toString", ""]), to)]),
        status: 400,
      }),
      (to) => {
        const field = rng.pick(["type", "from", "to", "term", "fromInc"]);
        const m: Record<string, unknown> = msg("heartbeat", to, { commit: 0 });
        delete m[field];
        return { what: `missing ${field}`, path: "/raft/v1/append", body: JSON.stringify([m]), status: 400 };
      },
      () => ({
        what: "addressed to another node",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("heartbeat", "node9")]),
        status: 400,
      }),
      (to) => {
        const field = rng.pick(["term", "index", "logTerm", "commit", "rejectHint", "hintTerm", "offset"]);
        const v = rng.pick<unknown>([-1, -0.5, 1.5, 2 ** 53, 1e300, "7", null, [], {}, true]);
        const type = field === "offset" ? "snapResp" : field === "term" ? "heartbeat" : "appResp";
        const lane = type === "snapResp" ? "snapshot" : "append";
        return {
          what: `${field} = ${JSON.stringify(v)}`,
          path: `/raft/v1/${lane}`,
          body: JSON.stringify([msg(type, to, { [field]: v })]),
          status: 400,
        };
      },
      (to) => ({
        what: "term 1e999",
        path: "/raft/v1/vote",
        body: `[{"type":"vote","from":"${leaderId}","to":"${to}","term":1e999,"fromInc":"x"}]`,
        status: 400,
      }),
      (to) => ({
        what: "tick not a number",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("heartbeat", to, { tick: "soon" })]),
        status: 400,
      }),
      (to) => ({
        what: "context not a string",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("heartbeat", to, { context: 5 })]),
        status: 400,
      }),
      (to) => ({
        what: "reject not a boolean",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("appResp", to, { index: 1, reject: "yes" })]),
        status: 400,
      }),
      (to) => ({
        what: "entries not an array",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("app", to, { index: last, logTerm: term, entries: { 0: 1 } })]),
        status: 400,
      }),
      (to) => {
        const e = rng.pick<unknown>([
          null,
          1,
          { index: last + 1 },
          { index: last + 1, term, type: "normal", data: 5 },
          { index: last + 1, term, type: "evil", data: "" },
        ]);
        return {
          what: `malformed entry ${JSON.stringify(e)}`,
          path: "/raft/v1/append",
          body: JSON.stringify([msg("app", to, { index: last, logTerm: term, entries: [e], commit: 0 })]),
          status: 400,
        };
      },
      // Well-typed, but nothing a correct leader sends; before the transport checked, the first stopped the node.
      (to) => ({
        what: "gap in entries",
        path: "/raft/v1/append",
        body: JSON.stringify([
          msg("app", to, {
            index: last,
            logTerm: term,
            entries: [{ index: last + 7, term, type: "normal", data: "{}" }],
            commit: last,
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "entry term above the message",
        path: "/raft/v1/append",
        body: JSON.stringify([
          msg("app", to, {
            index: last,
            logTerm: term,
            entries: [{ index: last + 1, term: term + 5, type: "noop", data: "" }],
            commit: 0,
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "garbage config entry",
        path: "/raft/v1/append",
        body: JSON.stringify([
          msg("app", to, {
            index: last,
            logTerm: term,
            entries: [
              {
                index: last + 1,
                term,
                type: "config",
                data: rng.pick(["garbage", "{}", '{"voters":{},"learners":{}}', '{"voters":{"a":5},"learners":{}}']),
              },
            ],
            commit: 0,
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "snapshot of another format",
        path: "/raft/v1/snapshot",
        body: JSON.stringify([
          msg("snap", to, {
            snapshot: { index: last + 1000, term, config: { voters: { [to]: "x" }, learners: {} } },
            offset: 0,
            chunk: rng.pick(["garbage", "raftkv-snap/2\n{}\n", "{}"]),
            done: true,
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "snapshot without voters",
        path: "/raft/v1/snapshot",
        body: JSON.stringify([
          msg("snap", to, {
            snapshot: { index: last + 1000, term, config: { voters: {}, learners: {} } },
            offset: 0,
            chunk: "raftkv-snap/1\n{}\n",
            done: true,
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "snapshot meta garbage",
        path: "/raft/v1/snapshot",
        body: JSON.stringify([
          msg("snap", to, {
            snapshot: rng.pick<unknown>([
              1,
              [],
              { index: -1, term: 1, config: {} },
              { index: 1, term: 1, config: { voters: 1, learners: {} } },
            ]),
            offset: 0,
            chunk: "",
          }),
        ]),
        status: 400,
      }),
      (to) => ({
        what: "X-Raftkv-From does not match",
        path: "/raft/v1/append",
        body: JSON.stringify([msg("heartbeat", to)]),
        status: 400,
        from: "node9",
      }),
      // Huge arrays: refused at the first bad element, quickly.
      () => ({
        what: "100k junk messages",
        path: "/raft/v1/append",
        body: `[${Array.from({ length: 100_000 }, () => "{}").join(",")}]`,
        status: 400,
      }),
      (to) => ({
        what: "a valid message after 20k bad ones",
        path: "/raft/v1/append",
        body: JSON.stringify([...Array.from({ length: 20_000 }, () => 7), msg("heartbeat", to)]),
        status: 400,
      }),
      (to) => ({
        what: "20k entries with one gap",
        path: "/raft/v1/append",
        body: JSON.stringify([
          msg("app", to, {
            index: last,
            logTerm: term,
            commit: 0,
            entries: Array.from({ length: 20_000 }, (_, k) => ({
              index: last + 1 + k + (k === 19_999 ? 1 : 0),
              term,
              type: "noop",
              data: "",
            })),
          }),
        ]),
        status: 400,
      }),
      // Joins with the wrong shape.
      () => ({
        what: "malformed join",
        path: "/raft/v1/join",
        body: rng.pick([
          "{}",
          "[]",
          '{"id":"n9","incarnation":"x","raftAddr":"a:1","httpUrl":"http://a","mode":"take-over"}',
          '{"id":"","incarnation":"x","raftAddr":"a:1","httpUrl":"http://a","mode":"join"}',
          '{"id":5,"incarnation":"x","raftAddr":"a:1","httpUrl":"http://a","mode":"join"}',
        ]),
        status: 400,
      }),
      // Unknown routes and methods on the Raft port.
      () => ({
        what: "unknown raft route",
        path: rng.pick(["/raft/v1/nope", "/raft/v2/append", "/raft/v1/info/x", "/raft/v1/append/x"]),
        body: "[]",
        status: 404,
      }),
    ];
    const cases: Array<{ what: string; req: Buffer; port: number; status?: number }> = [];
    for (let k = 0; k < 600; k++) {
      const i = target();
      const g = rng.pick(gens)(idOf(i));
      const headers: Headers = [...good, ["X-Raftkv-From", g.from ?? leaderId]];
      const c0: { what: string; req: Buffer; port: number; status?: number } = {
        what: `${g.what} to ${idOf(i)}`,
        req: post(g.path, headers, g.body, g.ct),
        port: portOf(i),
      };
      if (g.status !== undefined) c0.status = g.status;
      cases.push(c0);
    }
    // Oversize: a body declared past the Raft port's limit (128 MiB) is refused before it is read.
    for (let i = 0; i < 3; i++) {
      cases.push({
        what: `declared 200 MiB body to ${idOf(i)}`,
        req: encodeRequest({
          method: "POST",
          target: "/raft/v1/append",
          headers: [...good, ["Content-Type", "application/json"], ["Content-Length", String(200 << 20)]],
          body: "[",
        }),
        port: portOf(i),
        status: 413,
      });
      cases.push({
        what: `GET on a lane of ${idOf(i)}`,
        req: encodeRequest({ method: "GET", target: "/raft/v1/append", headers: good }),
        port: portOf(i),
        status: 404,
      });
      cases.push({
        what: `POST /raft/v1/info on ${idOf(i)}`,
        req: post("/raft/v1/info", good, "{}"),
        port: portOf(i),
        status: 404,
      });
      cases.push({
        what: `unsupported charset to ${idOf(i)}`,
        req: post("/raft/v1/append", good, "[]", "application/json; charset=ebcdic"),
        port: portOf(i),
        status: 415,
      });
    }
    const replies = await pool(
      8,
      cases.map((k) => () => rawSend(k.port, k.req, { timeoutMs: 15_000 })),
    );
    const problems = cases.flatMap((k, j) => {
      const p = refused(replies[j] as RawReply, k.what, k.status);
      return p ? [p] : [];
    });
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} wrong answers (seed ${SEED})`);
    await new Promise((r) => setTimeout(r, 500));
    for (const [i, n] of c.nodes.entries()) assert.ok(n.proc && n.proc.exitCode === null, `node ${i} exited`);
    assert.deepEqual(await allFacts(c), before, "term, commit, last index, leader or members changed");
    for (const i of [0, 1, 2]) {
      assert.deepEqual([...(await readAll(c, i))], [...dataBefore], `data of node ${i} changed`);
      assert.deepEqual(
        c.logs(i).filter((l) => l.level === "error"),
        [],
        `node ${i} logged errors`,
      );
    }
    st.diagnostic(`${cases.length} malformed authenticated requests refused`);
  });

  await t.test(
    "real traffic still flows: writes, and a multi-chunk snapshot to a follower that fell behind",
    async () => {
      const f = [0, 1, 2].find((i) => i !== li) as number;
      await c.kill(f);
      // Three values of 300 KB: the snapshot (512 KiB chunks) needs several chunks.
      const model = new Map<string, unknown>(dataBefore);
      for (let k = 0; k < 3; k++) {
        const v = `${k}`.repeat(300_000);
        assert.equal((await c.http(li, "POST", "/key", { [`big${k}`]: v }, 20_000)).status, 200);
        model.set(`big${k}`, v);
      }
      for (let k = 0; k < 60; k++) {
        assert.equal((await c.http(li, "POST", "/key", { [`after${k}`]: k })).status, 200);
        model.set(`after${k}`, k);
      }
      // Snapshots are taken behind the applies and written before the log is compacted: wait for one.
      const lead = await waitFor("the leader to compact its log", 15_000, async () => {
        const s = await c.status(li);
        return s && s.snapshotIndex > 0 ? s : undefined;
      });
      const from = c.nodes[f]?.lines.length ?? 0;
      c.start(f);
      await waitFor("the follower catches up", 30_000, async () => {
        const s = await c.status(f);
        return s && s.appliedIndex >= lead.commitIndex ? true : undefined;
      });
      assert.ok(
        c.logs(f, from).some((l) => /snapshot/i.test(String(l.msg))) || ((await c.status(f))?.snapshotIndex ?? 0) > 0,
        "the follower was brought up to date by a snapshot",
      );
      for (const i of [0, 1, 2]) {
        const data = await readAll(c, i);
        assert.deepEqual([...data].sort(), [...model].sort(), `node ${i} holds every acknowledged write`);
      }
      for (const i of [0, 1, 2]) assert.equal((await c.http(i, "GET", "/livez")).status, 200);
    },
  );

  // Only the first chunk's header can be checked per message, so the node checks the assembled
  // snapshot before persisting it (server/raft-node.ts): a bad one stops the process without
  // touching the disk, and it starts again normally. Runs last: it stops a node.
  await t.test(
    "a forged snapshot with a valid header but garbage data does not take a node down for good",
    async () => {
      const s = (await c.status(li)) as Status & { lastLogIndex: number };
      const f = [0, 1, 2].find((i) => i !== li) as number;
      const to = idOf(f);
      const voters = Object.fromEntries(s.members.map((m) => [m.id, m.incarnation]));
      const forged = msg("snap", to, {
        term: s.term,
        snapshot: { index: s.lastLogIndex + 1000, term: s.term, config: { voters, learners: {} } },
        offset: 0,
        chunk: "raftkv-snap/1\n{}\nnot a kv snapshot",
        done: true,
      });
      const headers: Headers = [...good, ["X-Raftkv-From", leaderId]];
      const r = await rawSend(portOf(f), post("/raft/v1/snapshot", headers, JSON.stringify([forged])));
      assert.equal(r.status, 204, "the transport cannot tell (the header is right)");
      await new Promise((res) => setTimeout(res, 1500));
      const n = c.nodes[f];
      if (!n?.proc) {
        c.start(f);
        let timer: NodeJS.Timeout | undefined;
        const running = new Promise((res) => {
          timer = setTimeout(() => res("running"), 8000);
        });
        const exit = await Promise.race([n?.exit, running]);
        clearTimeout(timer);
        assert.equal(exit, "running", `${to} stopped on the forged snapshot and cannot start again`);
      }
      assert.equal((await c.http(f, "GET", "/livez")).status, 200);
    },
  );
});
