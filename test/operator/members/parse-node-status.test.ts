/** parseNodeStatus: the subset the operator uses is copied out; anything malformed is refused by name. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNodeStatus } from "../../../operator/src/members/parse-node-status.ts";

/** A full /status answer of a leader, as the node sends it. */
function leaderAnswer(): Record<string, unknown> {
  return {
    id: "db-0",
    incarnation: "inc-a",
    clusterId: "raftkv",
    state: "leader",
    term: 3,
    leader: { id: "db-0", raftAddr: "db-0.db:12000", httpUrl: "http://db-0.db:11000" },
    commitIndex: 10,
    appliedIndex: 10,
    lastLogIndex: 11,
    snapshotIndex: 0,
    members: [
      { id: "db-0", role: "voter", incarnation: "inc-a", raftAddr: "a", httpUrl: "b", match: 11 },
      { id: "db-1", role: "learner", incarnation: "inc-b", raftAddr: "c", httpUrl: "d", match: 4 },
    ],
    lastContactMs: 0,
    kvStore: "leveldb",
    version: "0.1.0",
  };
}

test("a valid answer yields exactly the subset the operator uses", () => {
  assert.deepEqual(parseNodeStatus(leaderAnswer()), {
    ok: true,
    status: {
      id: "db-0",
      incarnation: "inc-a",
      state: "leader",
      term: 3,
      leader: { id: "db-0" },
      commitIndex: 10,
      appliedIndex: 10,
      lastLogIndex: 11,
      members: [
        { id: "db-0", role: "voter", incarnation: "inc-a", match: 11 },
        { id: "db-1", role: "learner", incarnation: "inc-b", match: 4 },
      ],
      lastContactMs: 0,
    },
  });
});

test("a blank follower (no leader, no members, no contact) is valid", () => {
  const blank = { ...leaderAnswer(), state: "follower", leader: null, members: [], lastContactMs: null, term: 0 };
  const r = parseNodeStatus(blank);
  assert.ok(r.ok);
  assert.equal(r.status.leader, null);
  assert.deepEqual(r.status.members, []);
  assert.equal(r.status.lastContactMs, null);
  const follower = parseNodeStatus({ ...blank, members: [{ id: "x", role: "voter", incarnation: "i", raftAddr: "" }] });
  assert.deepEqual(follower.ok && follower.status.members, [{ id: "x", role: "voter", incarnation: "i" }]);
});

test("every malformed field is refused with its name", () => {
  const cases: Array<[string, (o: Record<string, unknown>) => unknown, RegExp]> = [
    ["not an object", () => [], /the body is not an object/],
    ["null", () => null, /the body is not an object/],
    ["id missing", (o) => ({ ...o, id: undefined }), /^bad \/status answer: id must be/],
    ["empty id", (o) => ({ ...o, id: "" }), /id must be a non-empty string/],
    ["huge id", (o) => ({ ...o, id: "x".repeat(600) }), /id must be/],
    ["incarnation missing", (o) => ({ ...o, incarnation: undefined }), /incarnation must be/],
    ["unknown state", (o) => ({ ...o, state: "king" }), /state must be one of follower/],
    ["negative term", (o) => ({ ...o, term: -1 }), /term must be a non-negative integer/],
    ["fractional commit", (o) => ({ ...o, commitIndex: 1.5 }), /commitIndex must be/],
    ["string applied", (o) => ({ ...o, appliedIndex: "10" }), /appliedIndex must be/],
    ["unsafe lastLogIndex", (o) => ({ ...o, lastLogIndex: 2 ** 60 }), /lastLogIndex must be/],
    ["leader missing", (o) => ({ ...o, leader: undefined }), /leader is not an object/],
    ["leader without id", (o) => ({ ...o, leader: {} }), /leader\.id must be/],
    ["members not a list", (o) => ({ ...o, members: {} }), /members is not an array/],
    ["member not an object", (o) => ({ ...o, members: [7] }), /members\[0\] is not an object/],
    [
      "member role",
      (o) => ({ ...o, members: [{ id: "a", role: "king", incarnation: "i" }] }),
      /members\[0\]\.role must be one of voter, learner/,
    ],
    [
      "member match",
      (o) => ({ ...o, members: [{ id: "a", role: "voter", incarnation: "i", match: -3 }] }),
      /members\[0\]\.match must be/,
    ],
    [
      "duplicate member",
      (o) => ({
        ...o,
        members: [
          { id: "a", role: "voter", incarnation: "i" },
          { id: "a", role: "learner", incarnation: "j" },
        ],
      }),
      /members lists an id twice/,
    ],
    [
      "too many members",
      (o) => ({
        ...o,
        members: Array.from({ length: 1001 }, (_, i) => ({ id: `m${i}`, role: "voter", incarnation: "i" })),
      }),
      /more than 1000/,
    ],
    ["lastContactMs missing", (o) => ({ ...o, lastContactMs: undefined }), /lastContactMs must be/],
  ];
  for (const [name, change, pattern] of cases) {
    const r = parseNodeStatus(change(leaderAnswer()));
    assert.ok(!r.ok, `${name} was accepted`);
    assert.match(r.error, pattern, name);
  }
});
