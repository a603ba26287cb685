/** The Raft core's seeded generator (mulberry32), with the inclusive ranges and picks the planner's tests use. */

import { Rng } from "../../../node/src/raft/rng.ts";

/** Deterministic random numbers from a 32-bit seed. */
export class Prng {
  readonly #rng: Rng;

  /** Starts the sequence of `seed`. */
  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    return this.#rng.next();
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return this.#rng.int(lo, hi + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error("Prng.pick: empty array");
    return x;
  }
}
