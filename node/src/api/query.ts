/**
 * Query strings, parsed by hand: a parameter given twice is ambiguous and an
 * unknown one is most likely a typo (`?consistancy=stale` would silently give
 * a linearizable read), so both are refused with BAD_PARAM.
 */

import type { Request } from "express";
import { ApiFailure } from "./failure.ts";
import type { Consistency } from "./kv-node.ts";

/** The validated query parameters of one request. */
export class Query {
  readonly #params: Map<string, string>;
  /** Wraps already-validated parameters. */
  constructor(params: Map<string, string>) {
    this.#params = params;
  }

  /** A parameter's value, or undefined when absent. */
  get(name: string): string | undefined {
    return this.#params.get(name);
  }

  /** A boolean flag: present with no value, `1` or `true` is true; `0` or `false` is false. */
  flag(name: string): boolean {
    const v = this.#params.get(name);
    if (v === undefined || v === "0" || v === "false") return false;
    if (v === "" || v === "1" || v === "true") return true;
    throw new ApiFailure("BAD_PARAM", `?${name} must be empty, true, false, 1 or 0, not ${JSON.stringify(v)}`);
  }

  /** `?consistency=linearizable|stale`, linearizable by default. */
  consistency(): Consistency {
    const v = this.#params.get("consistency");
    if (v === undefined || v === "linearizable") return "linearizable";
    if (v === "stale") return "stale";
    throw new ApiFailure("BAD_PARAM", `?consistency must be linearizable or stale, not ${JSON.stringify(v)}`);
  }

  /** An integer in [min, max], or `dflt` when absent. */
  int(name: string, min: number, max: number, dflt: number): number {
    const v = this.#params.get(name);
    if (v === undefined) return dflt;
    if (!/^\d{1,15}$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ApiFailure("BAD_PARAM", `?${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
    }
    return Number(v);
  }
}

/** Parses the request's query string, allowing only `allowed` names, each at most once. */
export function parseQuery(req: Request, allowed: readonly string[]): Query {
  return parseTargetQuery(req.originalUrl, allowed);
}

/** parseQuery for a request target as received (path and query). */
export function parseTargetQuery(target: string, allowed: readonly string[]): Query {
  const q = target.indexOf("?");
  const params = new Map<string, string>();
  if (q < 0) return new Query(params);
  const raw = target.slice(q + 1);
  for (const [name, value] of new URLSearchParams(raw)) {
    if (!allowed.includes(name)) {
      const known = allowed.length > 0 ? `allowed here: ${allowed.join(", ")}` : "this route takes none";
      throw new ApiFailure("BAD_PARAM", `unknown query parameter ${JSON.stringify(name)} (${known})`);
    }
    if (params.has(name)) throw new ApiFailure("BAD_PARAM", `query parameter ${JSON.stringify(name)} is repeated`);
    params.set(name, value);
  }
  checkEncoding(raw);
  return new Query(params);
}

/**
 * URLSearchParams silently turns a bad escape (`%FF`, a lone surrogate as
 * `%ED%A0%80`) into U+FFFD, so `?after=%FF` would quietly mean another key;
 * refuse it as the key in the path is refused.
 */
function checkEncoding(raw: string): void {
  for (const part of raw.split("&")) {
    try {
      decodeURIComponent(part.replaceAll("+", " "));
    } catch {
      const shown = JSON.stringify(part.length > 64 ? `${part.slice(0, 64)}...` : part);
      throw new ApiFailure("BAD_PARAM", `query parameter ${shown} is not valid percent-encoded UTF-8`);
    }
  }
}
