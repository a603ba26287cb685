/** Size of a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The highest value that a majority of voters has reached: sort descending
 * and take the majority-th. Used for the commit index and for leases.
 */
export function quorumValue(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort((a, b) => b - a);
  return sorted[majority(values.length) - 1] as number;
}

/** Outcome of a vote count. */
export type VoteResult = "won" | "lost" | "pending";

/** Counts granted and rejected votes among `voters` (absent voters have not answered). */
export function tallyVotes(voters: string[], votes: Map<string, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const q = majority(voters.length);
  if (granted >= q) return "won";
  if (voters.length - rejected < q) return "lost";
  return "pending";
}
