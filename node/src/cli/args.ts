/**
 * Command-line parsing for `raftkv`: positionals and `--name value` /
 * `--name=value` options anywhere, `--` ends options. Hand-written rather than
 * util.parseArgs so negative numbers (`raftkv kv set URL k -5`) are values.
 */

import { CliFailure } from "./client.ts";
import { EXIT } from "./exit-codes.ts";

/** Options that take a value. */
const VALUE_OPTIONS = ["secret", "prefix", "limit", "after", "incarnation", "timeout"] as const;
/** Options that are flags. */
const FLAG_OPTIONS = ["help", "stale", "delete"] as const;

/** A name of a known option. */
export type OptionName = (typeof VALUE_OPTIONS)[number] | (typeof FLAG_OPTIONS)[number];

/** The parsed command line. */
export interface Parsed {
  positionals: string[];
  /** Value options as given; flags as "" when present. */
  options: Map<OptionName, string>;
}

/** Splits argv into positionals and options; unknown or repeated options are usage errors. */
export function parseArgv(argv: readonly string[]): Parsed {
  const positionals: string[] = [];
  const options = new Map<OptionName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // "-" alone and negative numbers are values, not options.
    if (!arg.startsWith("-") || arg === "-" || /^-[\d.]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg === "-h") {
      options.set("help", "");
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1] as OptionName | undefined;
    if (m === null || name === undefined) throw usage(`unknown option ${arg}`);
    if ((FLAG_OPTIONS as readonly string[]).includes(name)) {
      if (m[2] !== undefined) throw usage(`--${name} takes no value`);
      if (options.has(name)) throw usage(`--${name} is given twice`);
      options.set(name, "");
    } else if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
      let value = m[2];
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw usage(`--${name} needs a value`);
      }
      if (options.has(name)) throw usage(`--${name} is given twice`);
      options.set(name, value);
    } else {
      throw usage(`unknown option --${name}`);
    }
  }
  return { positionals, options };
}

/** A usage error (exit 2) with a hint to --help. */
export function usage(message: string): CliFailure {
  return new CliFailure(EXIT.USAGE, `${message} (see raftkv --help)`);
}

/** Parses a JSON argument; `what` names it in the error. */
export function jsonArg(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw usage(`${what} is not valid JSON: ${text} (strings need quotes: '"text"')`);
  }
}

/** Parses a positive integer option. */
export function intOption(value: string | undefined, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw usage(`--${name} must be a positive integer`);
  return Number(value);
}
