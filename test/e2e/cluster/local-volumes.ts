/**
 * Storage for the e2e cluster: a StorageClass `local` (kubernetes.io/no-provisioner, WaitForFirstConsumer)
 * whose PersistentVolumes the harness creates on demand as `local` volumes, one directory each under the
 * work dir, pinned to the node. Local volumes cannot use reclaimPolicy Delete without a provisioner, so the
 * PVs are Retain and a reclaimer (polling every second) deletes each PV that becomes Released and wipes its
 * directory: a deleted claim's data is gone, as with a dynamic provisioner.
 */

import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig, StorageV1Api, type V1PersistentVolume } from "@kubernetes/client-node";

/** The StorageClass the harness installs. */
export const STORAGE_CLASS = "local";
const LABEL = "raftkv.e2e/local-volume";

/** Creates and reclaims the node's local volumes. */
export class LocalVolumes {
  readonly #core: CoreV1Api;
  readonly #storage: StorageV1Api;
  readonly #root: string;
  readonly #node: string;
  #created = 0;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  /** Volumes live in `root` (created here); `node` is the node they are pinned to. */
  constructor(kc: KubeConfig, root: string, node: string) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#storage = kc.makeApiClient(StorageV1Api);
    this.#root = root;
    this.#node = node;
    mkdirSync(root, { recursive: true });
  }

  /** Installs the StorageClass (the cluster's default) and starts the reclaimer. */
  async start(): Promise<void> {
    await this.#storage.createStorageClass({
      body: {
        metadata: {
          name: STORAGE_CLASS,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "WaitForFirstConsumer",
        reclaimPolicy: "Retain",
      },
    });
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.reclaim()
        .catch(() => {}) // the API may be stopping; the next tick retries
        .finally(() => {
          this.#sweeping = undefined;
        });
    }, 1_000);
    this.#timer.unref();
  }

  /** Creates `count` PersistentVolumes of `size` (e.g. "1Gi") in StorageClass `local`; returns their names. */
  async provide(count: number, size: string): Promise<string[]> {
    if (!Number.isInteger(count) || count < 1 || count > 100) {
      throw new Error(`provideVolumes: count must be an integer in 1..100, got ${count}`);
    }
    if (!/^\d+(Ki|Mi|Gi|Ti)?$/.test(size)) throw new Error(`provideVolumes: size must look like 1Gi, got ${size}`);
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const name = `local-${++this.#created}`;
      const path = join(this.#root, name);
      mkdirSync(path);
      chmodSync(path, 0o777); // any container user may write
      await this.#core.createPersistentVolume({ body: this.#pv(name, path, size) });
      names.push(name);
    }
    return names;
  }

  #pv(name: string, path: string, size: string): V1PersistentVolume {
    return {
      metadata: { name, labels: { [LABEL]: "true" } },
      spec: {
        capacity: { storage: size },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName: STORAGE_CLASS,
        volumeMode: "Filesystem",
        local: { path },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [this.#node] }] },
            ],
          },
        },
      },
    };
  }

  /** One reclaim pass: deletes every Released PV of ours and its directory. */
  async reclaim(): Promise<void> {
    const pvs = await this.#core.listPersistentVolume({ labelSelector: LABEL });
    for (const pv of pvs.items) {
      const name = pv.metadata?.name;
      const path = pv.spec?.local?.path;
      if (pv.status?.phase !== "Released" || !name || !path?.startsWith(`${this.#root}/`)) continue;
      rmSync(path, { recursive: true, force: true });
      await this.#core.deletePersistentVolume({ name });
    }
  }

  /** Stops the reclaimer. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }
}
