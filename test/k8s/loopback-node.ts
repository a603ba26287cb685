/**
 * The pod runner's Node object, as a kubelet registers it: Ready, with capacity and addresses, and a status
 * heartbeat so a node lifecycle controller (when one runs) keeps it Ready.
 */

import { type CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";

const isCode = (e: unknown, code: number) => (e as { code?: number } | null)?.code === code;

/** Creates the Node (or takes over an existing one of that name) and posts its status. */
export async function registerNode(core: CoreV1Api, name: string, hostIP: string, since: Date): Promise<void> {
  const body = {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux" } },
    status: nodeStatus(hostIP, since),
  };
  try {
    await core.createNode({ body });
  } catch (e) {
    if (!isCode(e, 409)) throw e;
  }
  await nodeHeartbeat(core, name, hostIP, since);
}

/** Posts the node's status with a fresh heartbeat, so the node lifecycle controller keeps it Ready. */
export async function nodeHeartbeat(core: CoreV1Api, name: string, hostIP: string, since: Date): Promise<void> {
  await core.patchNodeStatus(
    { name, body: { status: nodeStatus(hostIP, since) } },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
}

function nodeStatus(hostIP: string, readySince: Date) {
  const now = new Date();
  const resources = { cpu: "16", memory: "64Gi", pods: "110", "ephemeral-storage": "100Gi" };
  return {
    capacity: resources,
    allocatable: resources,
    addresses: [
      { type: "InternalIP", address: hostIP },
      { type: "Hostname", address: "loopback" },
    ],
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "KubeletReady",
        message: "pod runner is posting ready status",
        lastHeartbeatTime: now,
        lastTransitionTime: readySince,
      },
    ],
    nodeInfo: {
      architecture: "amd64",
      operatingSystem: "linux",
      kubeletVersion: "v1.34.4",
      kubeProxyVersion: "",
      containerRuntimeVersion: "loopback://1",
      osImage: "loopback",
      kernelVersion: "",
      bootID: "",
      machineID: "",
      systemUUID: "",
    },
  };
}
