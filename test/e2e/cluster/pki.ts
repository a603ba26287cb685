/**
 * The e2e cluster's PKI: the k8s tier's (CA, admin, service-account keys; test/k8s/control-plane-pki.ts)
 * plus an API server certificate valid for the node address and the `kubernetes` Service's IP, and the
 * kubelet's certificate (client as system:node:<node>, and serving for the node address).
 */

import { join } from "node:path";
import { issue, makePki, newKey, type Pki } from "../../k8s/control-plane-pki.ts";

/** The k8s tier's PKI plus the certificates a node needs. */
export interface ClusterPki extends Pki {
  apiserverCert: string;
  apiserverKey: string;
  nodeCert: string;
  nodeKey: string;
}

const LEAF = ["basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature, keyEncipherment"];

/** Writes the PKI into `dir` (which must exist) for node `nodeName` at `nodeIp`, API Service IP `apiServiceIp`. */
export async function makeClusterPki(
  dir: string,
  nodeName: string,
  nodeIp: string,
  apiServiceIp: string,
): Promise<ClusterPki> {
  const pki = await makePki(dir);
  newKey(join(dir, "apiserver.key"));
  newKey(join(dir, "node.key"));
  const names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];
  const [apiserverCert, nodeCert] = await Promise.all([
    issue(dir, "apiserver", { CN: "kube-apiserver" }, [
      ...LEAF,
      "extendedKeyUsage = serverAuth",
      `subjectAltName = IP:127.0.0.1, IP:${nodeIp}, IP:${apiServiceIp}, DNS:localhost, ${names.map((n) => `DNS:${n}`).join(", ")}`,
    ]),
    issue(dir, "node", { O: "system:nodes", CN: `system:node:${nodeName}` }, [
      ...LEAF,
      "extendedKeyUsage = serverAuth, clientAuth",
      `subjectAltName = DNS:${nodeName}, IP:${nodeIp}`,
    ]),
  ]);
  return {
    ...pki,
    apiserverCert,
    apiserverKey: join(dir, "apiserver.key"),
    nodeCert,
    nodeKey: join(dir, "node.key"),
  };
}
