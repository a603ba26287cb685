/**
 * Parsed query strings of one route, remembered: a parse depends only on the
 * raw query and the allowed names, and the hot routes see the same few again
 * and again (none, `consistency=stale`), so each is parsed once. Refusals are
 * never remembered: they throw from the real parser every time.
 */

import { parseTargetQuery, type Query } from "./query.ts";

/** Distinct query strings remembered per route; past that, each is parsed every time. */
const MAX_REMEMBERED = 64;

/** The parsed queries of one route (its allowed parameter names). */
export class QueryMemo {
  readonly #allowed: readonly string[];
  readonly #none: Query;
  readonly #seen = new Map<string, Query>();

  /** A memo for a route that allows `allowed`. */
  constructor(allowed: readonly string[]) {
    this.#allowed = allowed;
    this.#none = parseTargetQuery("", allowed);
  }

  /** The query of `target` (path and query), whose "?" is at index `q` (-1: none); throws as parseQuery does. */
  get(target: string, q: number): Query {
    if (q < 0) return this.#none;
    const raw = target.slice(q + 1);
    const known = this.#seen.get(raw);
    if (known !== undefined) return known;
    const parsed = parseTargetQuery(target, this.#allowed);
    if (this.#seen.size < MAX_REMEMBERED) this.#seen.set(raw, parsed);
    return parsed;
  }
}
