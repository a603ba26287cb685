/**
 * Watches the free space of the file system that holds STATE_DIR.
 *
 * Below MIN_FREE_BYTES the node is "low": it refuses client writes
 * (STORAGE_FULL, nothing proposed) and takes no new log entries or snapshots
 * from a leader, so its own writes never run the disk dry. That matters
 * because a LevelDB write that meets ENOSPC may leave a torn record in the
 * write-ahead log, after which the store must be closed and reopened (see
 * poisonDb). What a low node still writes (hard state, applying entries it
 * already holds, LevelDB compactions) is what the reserve is for.
 *
 * The state changes back only at MIN_FREE_BYTES plus a sixteenth, so a disk
 * hovering at the threshold does not flap.
 */

import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** Measures the bytes available to this process in the file system holding `dir`. */
export type MeasureFree = (dir: string) => Promise<number>;

/**
 * Bytes available to unprivileged writers in the file system that holds (or
 * will hold) `dir`: its nearest existing ancestor is measured, so a STATE_DIR
 * not created yet (first start, or a full disk refused the mkdir) still counts.
 */
export async function freeBytes(dir: string): Promise<number> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      const s = await statfs(d);
      return s.bavail * s.bsize;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || dirname(d) === d) throw e;
    }
  }
}

/** Settings of a DiskGuard. */
export interface DiskGuardOptions {
  dir: string;
  /** 0 turns the guard off: it never reports low (it still measures). */
  minFreeBytes: number;
  /** How often to measure (default 250 ms). */
  pollMs?: number;
  measure?: MeasureFree;
  /** Called on every measurement. */
  onMeasure?: (free: number, low: boolean) => void;
  /** Called when the state flips. */
  onChange?: (low: boolean, free: number) => void;
  /** Called when a measurement fails (e.g. the directory vanished); the state is kept. */
  onError?: (e: Error) => void;
}

/** Free space of STATE_DIR, measured in the background; `low` below MIN_FREE_BYTES. */
export class DiskGuard {
  readonly minFreeBytes: number;
  readonly #o: DiskGuardOptions;
  readonly #measure: MeasureFree;
  #low = false;
  #free: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<boolean> | undefined;
  #errorReported = false;

  /** A guard that measures nothing until check() or start(). */
  constructor(o: DiskGuardOptions) {
    this.#o = o;
    this.minFreeBytes = o.minFreeBytes;
    this.#measure = o.measure ?? freeBytes;
  }

  /** True while free space is below the reserve. */
  get low(): boolean {
    return this.#low;
  }

  /** The last measurement in bytes (undefined before the first). */
  get free(): number | undefined {
    return this.#free;
  }

  /** The free space at which a low disk counts as recovered. */
  get recoverAt(): number {
    return this.minFreeBytes + Math.ceil(this.minFreeBytes / 16);
  }

  /** Measures now (sharing a measurement already under way); resolves with `low`. */
  check(): Promise<boolean> {
    this.#inFlight ??= this.#measure(this.#o.dir)
      .then(
        (free) => {
          this.#errorReported = false;
          this.#update(free);
          return this.#low;
        },
        (e: Error) => {
          if (!this.#errorReported) this.#o.onError?.(e);
          this.#errorReported = true;
          return this.#low;
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  #update(free: number): void {
    this.#free = free;
    const min = this.minFreeBytes;
    const low = min > 0 && (this.#low ? free < this.recoverAt : free < min);
    this.#o.onMeasure?.(free, low);
    if (low !== this.#low) {
      this.#low = low;
      this.#o.onChange?.(low, free);
    }
  }

  /** Measures every pollMs until stop(); the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    void this.check();
    this.#timer = setInterval(() => void this.check(), this.#o.pollMs ?? 250);
    this.#timer.unref();
  }

  /** Stops measuring. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Resolves once at least `bytes` are free (measured every `everyMs`), or
   * with false when `signal` aborts first.
   */
  async waitForFree(bytes: number, everyMs: number, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      await this.check();
      if (this.#free !== undefined && this.#free >= bytes) return true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, everyMs);
        signal.addEventListener("abort", done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
      });
    }
    return false;
  }
}
