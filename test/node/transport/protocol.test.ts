import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_RAFT_NUMBER, messageProblem } from "../../../node/src/transport/protocol.ts";

const heartbeat = (term: number) => ({
  type: "heartbeat",
  from: "n1",
  to: "n2",
  term,
  fromInc: "i1",
  commit: 0,
  tick: 1,
});

test("a forged term near 2^53 is refused before it reaches the core (it would leave no next term)", () => {
  assert.equal(messageProblem(heartbeat(5), "append", "n2"), undefined);
  assert.equal(messageProblem(heartbeat(MAX_RAFT_NUMBER), "append", "n2"), undefined);
  assert.match(messageProblem(heartbeat(MAX_RAFT_NUMBER + 1), "append", "n2") ?? "", /term/);
  assert.match(messageProblem(heartbeat(2 ** 53 - 1), "append", "n2") ?? "", /term/);
});
