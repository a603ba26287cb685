#!/usr/bin/env node
/**
 * `raftkv`: the command-line client of a raftkv cluster. Talks to any node's
 * client API (api/app.ts) with fetch; the node forwards to the leader.
 * Exit codes: exit-codes.ts (0 ok, 1 request failed, 2 usage, 3 a definite no).
 */

import { intOption, jsonArg, type OptionName, type Parsed, parseArgv, usage } from "./args.ts";
import { baseUrl, CliFailure, encodeKey, request, type Target } from "./client.ts";
import { EXIT, EXIT_DESCRIPTIONS } from "./exit-codes.ts";

/** Where output goes (tests capture it). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

interface Command {
  words: [string, string];
  args: string[];
  optional?: string;
  options: OptionName[];
  run(t: Target, args: string[], p: Parsed, io: Io): Promise<number>;
}

const LIST_PAGE = 1000;

const COMMANDS: Command[] = [
  {
    words: ["kv", "set"],
    args: ["url", "key", "json-value"],
    options: [],
    run: async (t, [key, value], _p, io) => {
      const v = jsonArg(value as string, "<json-value>");
      if (v === null) throw usage("null cannot be stored (it means absent); use `raftkv kv del`");
      io.out(JSON.stringify(await request(t, "POST", "/key", { [key as string]: v })));
      return EXIT.OK;
    },
  },
  {
    words: ["kv", "get"],
    args: ["url", "key"],
    options: ["stale"],
    run: async (t, [key], p, io) => {
      const q = p.options.has("stale") ? "?consistency=stale" : "";
      const body = (await request(t, "GET", `/key/${keyPath(key as string)}${q}`)) as Record<string, unknown>;
      const value = Object.hasOwn(body, key as string) ? body[key as string] : null;
      io.out(JSON.stringify(value));
      return value === null ? EXIT.NO : EXIT.OK;
    },
  },
  {
    words: ["kv", "del"],
    args: ["url", "key"],
    options: [],
    run: async (t, [key], _p, io) => {
      io.out(JSON.stringify(await request(t, "DELETE", `/key/${keyPath(key as string)}`)));
      return EXIT.OK;
    },
  },
  {
    words: ["kv", "cas"],
    args: ["url", "key", "expect-json"],
    optional: "value-json",
    options: ["delete"],
    run: async (t, [key, expectText, valueText], p, io) => {
      const expect = jsonArg(expectText as string, "<expect-json>");
      const del = p.options.has("delete");
      if (del === (valueText !== undefined)) throw usage("kv cas needs exactly one of <value-json> or --delete");
      let body: Record<string, unknown> = { expect, delete: true };
      if (!del) {
        const value = jsonArg(valueText as string, "<value-json>");
        if (value === null) throw usage("null cannot be stored; use --delete");
        body = { expect, value };
      }
      io.out(JSON.stringify(await request(t, "POST", `/cas/${keyPath(key as string)}`, body)));
      return EXIT.OK;
    },
  },
  {
    words: ["kv", "list"],
    args: ["url"],
    options: ["prefix", "limit", "after", "stale"],
    run: async (t, _args, p, io) => {
      let remaining = intOption(p.options.get("limit"), "limit", Number.POSITIVE_INFINITY);
      let after = p.options.get("after");
      // Page through the cursor until the limit or the end.
      while (remaining > 0) {
        const q = new URLSearchParams({ limit: String(Math.min(remaining, LIST_PAGE)) });
        const prefix = p.options.get("prefix");
        if (prefix !== undefined && prefix !== "") q.set("prefix", prefix);
        if (after !== undefined) q.set("after", after);
        if (p.options.has("stale")) q.set("consistency", "stale");
        const page = (await request(t, "GET", `/keys?${q}`)) as { keys: unknown[]; next?: string };
        for (const kv of page.keys) io.out(JSON.stringify(kv));
        remaining -= page.keys.length;
        if (page.next === undefined) break;
        after = page.next;
      }
      return EXIT.OK;
    },
  },
  {
    words: ["cluster", "status"],
    args: ["url"],
    options: ["secret"],
    run: async (t, _args, _p, io) => {
      io.out(JSON.stringify(await request(t, "GET", "/status"), null, 2));
      return EXIT.OK;
    },
  },
  {
    words: ["cluster", "add"],
    args: ["url", "id", "raftAddr", "httpUrl"],
    options: ["secret", "incarnation"],
    run: async (t, [id, raftAddr, httpUrl], p, io) => {
      const incarnation = p.options.get("incarnation");
      const body = { id, raftAddr, httpUrl, ...(incarnation === undefined ? {} : { incarnation }) };
      io.out(JSON.stringify(await request(t, "POST", "/admin/members", body, true)));
      return EXIT.OK;
    },
  },
  {
    words: ["cluster", "promote"],
    args: ["url", "id"],
    options: ["secret"],
    run: async (t, [id], _p, io) => {
      io.out(
        JSON.stringify(await request(t, "POST", `/admin/members/${encodeKey(id as string)}/promote`, undefined, true)),
      );
      return EXIT.OK;
    },
  },
  {
    words: ["cluster", "remove"],
    args: ["url", "id"],
    options: ["secret"],
    run: async (t, [id], _p, io) => {
      io.out(JSON.stringify(await request(t, "DELETE", `/admin/members/${encodeKey(id as string)}`, undefined, true)));
      return EXIT.OK;
    },
  },
  {
    words: ["cluster", "transfer-leader"],
    args: ["url"],
    optional: "id",
    options: ["secret"],
    run: async (t, [id], _p, io) => {
      io.out(JSON.stringify(await request(t, "POST", "/admin/transfer-leader", id === undefined ? {} : { id }, true)));
      return EXIT.OK;
    },
  },
];

/** A key as one path segment; "." and ".." would be removed by URL normalisation, so they cannot be sent. */
function keyPath(key: string): string {
  if (key === "") throw usage("the key must not be empty");
  if (key === "." || key === "..") throw usage(`the key ${key} cannot be addressed in a URL; use kv list --prefix`);
  return encodeKey(key);
}

function synopsis(c: Command): string {
  const opt = c.optional === undefined ? "" : c.words[1] === "cas" ? ` <${c.optional}>|--delete` : ` [${c.optional}]`;
  const extra = c.options
    .filter((o) => o !== "secret" && o !== "delete")
    .map((o) => (o === "stale" ? " [--stale]" : ` [--${o} ${o === "limit" ? "n" : "x"}]`))
    .join("");
  return `raftkv ${c.words.join(" ")} ${c.args.map((a) => `<${a}>`).join(" ")}${opt}${extra}`;
}

/** The --help text. */
export function helpText(): string {
  return [
    "raftkv: command-line client for a raftkv cluster",
    "",
    "Usage:",
    ...COMMANDS.map((c) => `  ${synopsis(c)}`),
    "",
    "<url> is any node's client address (http://host:port, or host:port); followers forward to the leader.",
    `Values are JSON: '"text"', 42, '{"a":[1,2]}'. In kv cas, <expect-json> null means "the key is absent".`,
    "Put -- before a value that starts with '-' (negative numbers need nothing).",
    "",
    "Options:",
    "  --secret s     cluster secret for cluster add/promote/remove/transfer-leader (default: $RAFTKV_SECRET)",
    "  --stale        read this node's own state without asking the leader (may lag behind)",
    "  --timeout ms   give up after this many milliseconds (default 30000)",
    "  -h, --help     show this help",
    "",
    'Output: kv get prints the value as JSON; kv list prints one {"key","value"} JSON object per line',
    "(all keys unless --limit); cluster status prints the node's status; others print the server's JSON answer.",
    "Errors go to stderr as `raftkv: CODE: message` (codes: docs/errors.md).",
    "",
    "Exit codes:",
    ...EXIT_DESCRIPTIONS.map(([code, text]) => `  ${code}  ${text}`),
  ].join("\n");
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const p = parseArgv(argv);
  const [group, verb, ...rest] = p.positionals;
  if (p.options.has("help")) {
    io.out(helpText());
    return EXIT.OK;
  }
  if (group === undefined) throw usage("no command given");
  const cmd = COMMANDS.find((c) => c.words[0] === group && c.words[1] === verb);
  if (cmd === undefined) {
    const known = [...new Set(COMMANDS.filter((c) => c.words[0] === group).map((c) => c.words[1]))];
    if (known.length === 0) throw usage(`unknown command ${JSON.stringify(group)}; use kv or cluster`);
    throw usage(`unknown command "${group}${verb === undefined ? "" : ` ${verb}`}"; ${group} has ${known.join(", ")}`);
  }
  const max = cmd.args.length + (cmd.optional === undefined ? 0 : 1);
  if (rest.length < cmd.args.length || rest.length > max) {
    throw usage(`${rest.length < cmd.args.length ? "missing arguments" : "too many arguments"}: ${synopsis(cmd)}`);
  }
  for (const name of p.options.keys()) {
    if (name !== "timeout" && !cmd.options.includes(name))
      throw usage(`--${name} does not apply to ${cmd.words.join(" ")}`);
  }
  const target: Target = {
    base: baseUrl(rest[0] as string),
    timeoutMs: intOption(p.options.get("timeout"), "timeout", 30_000),
    secret: p.options.get("secret") ?? (io.env.RAFTKV_SECRET || undefined),
  };
  return cmd.run(target, rest.slice(1), p, io);
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof CliFailure) {
      io.err(`raftkv: ${e.message}`);
      return e.exit;
    }
    io.err(`raftkv: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.FAILED;
  }
}

if (import.meta.main) {
  const io: Io = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  };
  process.exitCode = await main(process.argv.slice(2), io);
}
