/**
 * List-then-watch of one resource collection that keeps going until stopped: a watch that ends (server
 * timeout, client-node's 30 s inactivity abort, a dropped connection) resumes from the last resourceVersion,
 * and a 410 Gone or any error relists, reporting every object the list no longer has as deleted.
 */

import { type KubeConfig, Watch } from "@kubernetes/client-node";

/** A Kubernetes object as the watch sees it. */
export interface Obj {
  metadata?: { name?: string; uid?: string; resourceVersion?: string };
}

/** Callbacks of a list-watch. */
export interface ListWatchHandlers<T extends Obj> {
  /** An object appeared or changed. */
  upsert(o: T): void;
  /** An object is gone. */
  remove(o: T): void;
}

/** A running list-watch. */
export interface ListWatch {
  /** Stops it; no callback runs after this returns. */
  stop(): void;
}

/** A typed list call, e.g. `() => core.listNamespacedPod({ namespace })`. */
export type ListFn<T> = () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;

/** Starts a list-watch of `path` (e.g. /api/v1/namespaces/ns/pods), listed by `listFn`. */
export function listWatch<T extends Obj>(
  kc: KubeConfig,
  path: string,
  listFn: ListFn<T>,
  h: ListWatchHandlers<T>,
): ListWatch {
  const watch = new Watch(kc);
  const known = new Map<string, T>();
  let stopped = false;
  let current: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;

  const later = (fn: () => void, ms: number) => {
    if (stopped) return;
    timer = setTimeout(fn, ms);
  };

  const list = async () => {
    if (stopped) return;
    try {
      const body = await listFn();
      if (stopped) return;
      const seen = new Set<string>();
      for (const o of body.items) {
        const uid = o.metadata?.uid ?? "";
        seen.add(uid);
        known.set(uid, o);
        h.upsert(o);
      }
      for (const [uid, o] of known) {
        if (!seen.has(uid)) {
          known.delete(uid);
          h.remove(o);
        }
      }
      watchFrom(body.metadata?.resourceVersion ?? "");
    } catch {
      later(() => void list(), 1000);
    }
  };

  const watchFrom = (rv: string) => {
    if (stopped) return;
    let last = rv;
    let relist = false;
    const onEvent = (type: string, o: T) => {
      if (stopped) return;
      if (type === "ERROR") {
        relist = true;
        current?.abort();
        return;
      }
      last = o.metadata?.resourceVersion ?? last;
      if (type === "BOOKMARK") return;
      const uid = o.metadata?.uid ?? "";
      if (type === "DELETED") {
        known.delete(uid);
        h.remove(o);
      } else {
        known.set(uid, o);
        h.upsert(o);
      }
    };
    const onDone = (err: unknown) => {
      if (stopped) return;
      if (relist || err) later(() => void list(), err ? 500 : 0);
      else later(() => watchFrom(last), 0);
    };
    watch.watch(path, { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 25 }, onEvent, onDone).then(
      (c) => {
        current = c;
        if (stopped) c.abort();
      },
      (e) => onDone(e),
    );
  };

  void list();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.abort();
    },
  };
}
