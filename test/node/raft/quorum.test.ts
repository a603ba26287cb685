/**
 * Majorities (Raft paper §5.2, §5.3): vote counting and the commit index a
 * majority has reached.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { majority, quorumValue, tallyVotes } from "../../../node/src/raft/quorum.ts";

test("§5.2 'a majority of the servers in the full cluster'", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(majority), [1, 2, 2, 3, 3, 4, 4]);
});

test("§5.3 quorumValue: the highest index that a majority has reached", () => {
  assert.equal(quorumValue([5]), 5);
  assert.equal(quorumValue([5, 3]), 3, "two servers: both");
  assert.equal(quorumValue([9, 1, 5]), 5);
  assert.equal(quorumValue([9, 9, 1, 1]), 1, "two of four is not a majority");
  assert.equal(quorumValue([9, 8, 7, 1, 1]), 7);
  assert.equal(quorumValue([]), 0);
  assert.equal(quorumValue([3, Number.NEGATIVE_INFINITY, 2]), 2, "works for lease ticks too");
  const input = [1, 3, 2];
  quorumValue(input);
  assert.deepEqual(input, [1, 3, 2], "the input is not reordered");
});

test("§5.2 tallyVotes: won with a majority of grants, lost once a majority is out of reach, pending otherwise", () => {
  const five = ["a", "b", "c", "d", "e"];
  const votes = (entries: [string, boolean][]) => new Map(entries);
  assert.equal(tallyVotes(five, votes([["a", true]])), "pending");
  assert.equal(
    tallyVotes(
      five,
      votes([
        ["a", true],
        ["b", true],
        ["c", true],
      ]),
    ),
    "won",
  );
  assert.equal(
    tallyVotes(
      five,
      votes([
        ["a", true],
        ["b", false],
        ["c", false],
      ]),
    ),
    "pending",
    "d and e could still make three",
  );
  assert.equal(
    tallyVotes(
      five,
      votes([
        ["a", true],
        ["b", false],
        ["c", false],
        ["d", false],
      ]),
    ),
    "lost",
  );
  assert.equal(
    tallyVotes(
      ["a", "b", "c"],
      votes([
        ["a", true],
        ["x", true],
        ["y", true],
      ]),
    ),
    "pending",
    "votes from non-voters do not count",
  );
  assert.equal(tallyVotes(["a"], votes([["a", true]])), "won", "a single voter elects itself");
});
