/**
 * The operator's structured logger: one JSON object per line on stdout (time, level, msg, then the
 * fields, flat so `jq 'select(.level=="warn")'` works), filtered by LOG_LEVEL.
 */

/** Log verbosity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra fields of one log line. */
export type LogFields = Record<string, unknown>;

/** A logger bound to a minimum level and fields repeated on every line. */
export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** True when lines at `level` are written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Where lines go; tests swap it for an array. */
export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** Errors become {name, message, code?, status?}; everything else goes to JSON as is. */
function plain(v: unknown): unknown {
  if (v instanceof Error) {
    const out: Record<string, unknown> = { name: v.name, message: v.message };
    for (const k of ["code", "status"]) {
      const x = (v as unknown as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = x;
    }
    if (v.cause instanceof Error) out.cause = v.cause.message;
    return out;
  }
  return v;
}

/** Creates a logger writing lines at `level` and above to `sink` (stdout by default). */
export function createLogger(level: LogLevel, base: LogFields = {}, sink: LogSink = stdoutSink): Logger {
  const min = RANK[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
    for (const [k, v] of Object.entries(base)) line[k] = plain(v);
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = plain(v);
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      text = JSON.stringify({ time: line.time, level: lvl, msg, note: "fields not serialisable" });
    }
    sink(text);
  };
  return {
    level,
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    enabled: (l) => RANK[l] >= min,
    child: (fields) => createLogger(level, { ...base, ...fields }, sink),
  };
}

/** A logger that drops everything (tests and library use). */
export const silentLogger: Logger = createLogger("error", {}, () => {});
