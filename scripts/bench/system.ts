/** What the load generator needs from a system under test (raftkv.ts, etcd.ts, the echo server). */

/** What the load generator needs from a system under test. */
export interface System {
  name: string;
  ports: number[];
  /** Request for a write of `value` under `key`. */
  put(key: string, value: string): { method: string; path: string; body: string };
  /** Request for a read of `key`. */
  get(key: string, stale: boolean): { method: string; path: string; body?: string };
  /** The value in a read answer (undefined when absent). */
  value(body: string, key: string): string | undefined;
  /** Index of a member that does not lead. */
  follower(): Promise<number>;
  /** Index of the leader. */
  leader(): Promise<number>;
  /** Process ids of the members (for CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}
