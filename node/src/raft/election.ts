import type { RaftCore } from "./core.ts";
import { voterIds } from "./membership.ts";
import { tallyVotes } from "./quorum.ts";
import type { Message } from "./types.ts";

/** `pre`: a pre-vote round; `election`: a real one; `transfer`: a real one ordered by TimeoutNow. */
export type CampaignKind = "pre" | "election" | "transfer";

/** Starts a (pre-)election; a single-voter configuration wins at once. */
export function campaign(r: RaftCore, kind: CampaignKind): void {
  if (!r.promotable()) return;
  let voteTerm: number;
  if (kind === "pre") {
    r.becomePreCandidate();
    voteTerm = r.term + 1;
  } else {
    r.becomeCandidate();
    voteTerm = r.term;
  }
  r.votes.set(r.id, true);
  if (tallyVotes(voterIds(r.config), r.votes) === "won") {
    if (kind === "pre") campaign(r, "election");
    else r.becomeLeader();
    return;
  }
  const type = kind === "pre" ? "preVote" : "vote";
  for (const id of voterIds(r.config)) {
    if (id === r.id) continue;
    const m: Parameters<RaftCore["send"]>[0] = {
      type,
      to: id,
      term: voteTerm,
      index: r.log.lastIndex(),
      logTerm: r.log.lastTerm(),
    };
    if (kind === "transfer") m.force = true;
    r.send(m);
  }
}

/**
 * Grants or refuses a (pre-)vote. A vote needs no other vote in this term and
 * a log at least as up to date as ours (§5.4.1). Whether the vote counts is
 * the candidate's call: it ignores votes from incarnations its configuration
 * does not bind (a wiped disk). Refusing here as well would deadlock a member
 * that has not yet received the entry that re-added it.
 */
export function handleVoteRequest(r: RaftCore, m: Message): void {
  const isPre = m.type === "preVote";
  // Thesis §9.6: no pre-vote while a valid leader was heard from within an election timeout
  // (with check-quorum, step() already ignored such requests; this covers pre-vote alone).
  const heardLeader = r.lead !== "" && r.lead !== r.id && r.electionElapsed < r.opts.electionTicks;
  const canVote =
    r.vote === m.from ||
    (r.vote === "" && r.lead === "") ||
    (isPre && m.term > r.term && (!heardLeader || m.force === true));
  const upToDate = r.opts.bugs.voteWithoutLogCheck === true || r.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0);
  const respType = isPre ? "preVoteResp" : "voteResp";
  if (canVote && upToDate) {
    // A granted pre-vote answers in the term it was asked for, so it is not mistaken for a stale reply.
    r.send({ type: respType, to: m.from, term: m.term });
    if (!isPre) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.send({ type: respType, to: m.from, reject: true });
  }
}

/** Counts a (pre-)vote answer from a voter under its configured incarnation. */
export function handleVoteResponse(r: RaftCore, m: Message): void {
  const expected = r.state === "preCandidate" ? "preVoteResp" : r.state === "candidate" ? "voteResp" : undefined;
  if (m.type !== expected) return;
  if (!r.voterOk(m.from, m.fromInc)) return;
  if (!r.votes.has(m.from)) r.votes.set(m.from, !m.reject);
  const res = tallyVotes(voterIds(r.config), r.votes);
  if (res === "won") {
    if (r.state === "preCandidate") campaign(r, "election");
    else r.becomeLeader();
  } else if (res === "lost") {
    r.becomeFollower(r.term, "");
  }
}
