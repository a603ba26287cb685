/**
 * The two Services of a RaftKV: the headless peer Service that gives every pod its stable DNS name and
 * lets nodes find each other, and the client Service that balances client requests over ready pods.
 */

import type { V1Service } from "@kubernetes/client-node";
import type { RaftKV } from "../raftkv.ts";
import { asManifest, childMetadata, type Manifest } from "./manifest.ts";
import {
  CLIENT_PORT,
  CLIENT_PORT_NAME,
  clientServiceName,
  peerServiceName,
  RAFT_PORT,
  RAFT_PORT_NAME,
  SERVICE_ROLE_LABEL,
  selectorLabels,
} from "./names.ts";

/** Value of SERVICE_ROLE_LABEL on the peer Service. */
export const PEER_SERVICE_ROLE = "peers";
/** Value of SERVICE_ROLE_LABEL on the client Service (what the ServiceMonitor selects). */
export const CLIENT_SERVICE_ROLE = "client";

const clientPort = { name: CLIENT_PORT_NAME, port: CLIENT_PORT, targetPort: CLIENT_PORT_NAME, protocol: "TCP" };

/** The headless peer Service (the StatefulSet's serviceName). */
export function renderPeerService(rkv: RaftKV): Manifest {
  const svc: V1Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMetadata(rkv, peerServiceName(rkv), { [SERVICE_ROLE_LABEL]: PEER_SERVICE_ROLE }),
    spec: {
      clusterIP: "None",
      // Peers must resolve each other before they are ready: readiness needs a leader, which needs peers.
      publishNotReadyAddresses: true,
      selector: selectorLabels(rkv),
      ports: [{ name: RAFT_PORT_NAME, port: RAFT_PORT, targetPort: RAFT_PORT_NAME, protocol: "TCP" }, clientPort],
    },
  };
  return asManifest(svc);
}

/**
 * The client Service. Its one port, `client`, serves the key-value API and also /metrics, which is why
 * the ServiceMonitor scrapes port `client`: there is no separate metrics port.
 */
export function renderClientService(rkv: RaftKV): Manifest {
  const svc: V1Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMetadata(rkv, clientServiceName(rkv), { [SERVICE_ROLE_LABEL]: CLIENT_SERVICE_ROLE }),
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(rkv),
      ports: [{ ...clientPort }],
    },
  };
  return asManifest(svc);
}
