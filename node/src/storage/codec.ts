/**
 * How raftkv lays out keys and values in its LevelDB.
 *
 * Every value is `<crc32 as 8 hex digits><JSON>` where the CRC covers the key
 * bytes and the JSON text. classic-level does not turn on LevelDB's
 * verify_checksums/paranoid_checks, so without our own CRC a flipped bit in a
 * table file could be read back as a plausible but wrong value; covering the
 * key also catches a value that ends up under the wrong key.
 */

import { crc32 } from "node:zlib";

/** Key namespaces; one database holds the Raft log (log store) and the KV data (KV store). */
export const KEYS = {
  /** `log!` + 8-byte big-endian index: entries sort by index. */
  logPrefix: Buffer.from("log!"),
  hardState: Buffer.from("hardstate"),
  incarnation: Buffer.from("incarnation"),
  /** Layout version of this database. */
  format: Buffer.from("format"),
  snapMeta: Buffer.from("snap!meta"),
  /** Snapshot data stored in LevelDB itself: read from stores written before snapshot files. */
  snapData: Buffer.from("snap!data"),
  /** The reference of the snapshot file holding the data (snapshot-files.ts). */
  snapFile: Buffer.from("snap!file"),
  /** `kv!` + UTF-8 key. */
  kvPrefix: Buffer.from("kv!"),
  kvApplied: Buffer.from("kvmeta!applied"),
  /** Present while a snapshot restore is half done; the KV data is then void. */
  kvRestoring: Buffer.from("kvmeta!restoring"),
} as const;

/** The layout version written in `format`. */
export const FORMAT_VERSION = 1;

/** A byte no UTF-8 string contains: `prefix + 0xFF` bounds a prefix range. */
export const HIGH = Buffer.from([0xff]);

/** The key of log entry `index`. */
export function logKey(index: number): Buffer {
  const k = Buffer.allocUnsafe(KEYS.logPrefix.length + 8);
  KEYS.logPrefix.copy(k, 0);
  k.writeBigUInt64BE(BigInt(index), KEYS.logPrefix.length);
  return k;
}

/** The index encoded in a log key. */
export function logKeyIndex(key: Buffer): number {
  if (key.length !== KEYS.logPrefix.length + 8) {
    throw new CorruptValueError(`log key 0x${key.toString("hex")} has length ${key.length}, expected 12`);
  }
  return Number(key.readBigUInt64BE(KEYS.logPrefix.length));
}

/** The key under which a KV key is stored. */
export function kvKey(key: string): Buffer {
  return Buffer.concat([KEYS.kvPrefix, Buffer.from(key, "utf8")]);
}

/** The KV key stored under a database key. */
export function kvKeyName(dbKey: Buffer): string {
  return dbKey.subarray(KEYS.kvPrefix.length).toString("utf8");
}

/** Length of the checksum in front of a stored value's JSON. */
export const CHECKSUM_CHARS = 8;

function checksum(key: Buffer, json: string): string {
  return crc32(json, crc32(key)).toString(16).padStart(8, "0");
}

/** Frames a JSON-serialisable value for storage under `key`. */
export function encodeValue(key: Buffer, value: unknown): string {
  return encodeJson(key, JSON.stringify(value));
}

/** Frames a value's JSON text (JSON.stringify's output) for storage under `key`. */
export function encodeJson(key: Buffer, json: string): string {
  return checksum(key, json) + json;
}

/** Thrown when a stored value fails its checksum or does not parse. */
export class CorruptValueError extends Error {
  override name = "CorruptValueError";
}

/** The JSON text of a framed value once its checksum holds (not parsed); throws CorruptValueError naming the key. */
export function checkedJson(key: Buffer, stored: string): string {
  const json = stored.slice(CHECKSUM_CHARS);
  if (stored.length <= CHECKSUM_CHARS || stored.slice(0, CHECKSUM_CHARS) !== checksum(key, json)) {
    throw new CorruptValueError(`checksum mismatch in value of key ${printableKey(key)}`);
  }
  return json;
}

/** Checks and parses a framed value; throws CorruptValueError naming the key. */
export function decodeValue(key: Buffer, stored: string): unknown {
  const json = checkedJson(key, stored);
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new CorruptValueError(`value of key ${printableKey(key)} is not JSON: ${(e as Error).message}`);
  }
}

/** A key for error messages: text when printable, with log indices decoded. */
export function printableKey(key: Buffer): string {
  if (key.length === KEYS.logPrefix.length + 8 && key.subarray(0, 4).equals(KEYS.logPrefix)) {
    return `log!${logKeyIndex(key)}`;
  }
  const s = key.toString("utf8");
  return /^[\x20-\x7e]*$/.test(s) ? JSON.stringify(s) : `0x${key.toString("hex")}`;
}
