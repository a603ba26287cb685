/**
 * A LeaderElector in a process of its own, for leader-election.test.ts to SIGKILL: a leader that dies
 * without releasing its Lease. Reads KUBECONFIG, LEASE_NAMESPACE, LEASE_NAME, IDENTITY and TIMING (JSON of
 * LeaderElectorOptions' durations); prints one JSON line per change: {"event":"started"|"stopped"}.
 */

import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { LeaderElector } from "../../operator/src/kube/leader-election.ts";
import { silentLogger } from "../../operator/src/log.ts";

const kc = new KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG ?? "");
const elector = new LeaderElector({
  coordination: kc.makeApiClient(CoordinationV1Api),
  namespace: process.env.LEASE_NAMESPACE ?? "default",
  name: process.env.LEASE_NAME ?? "",
  identity: process.env.IDENTITY ?? "",
  logger: silentLogger,
  ...(JSON.parse(process.env.TIMING ?? "{}") as object),
  onStartedLeading: () => {
    process.stdout.write(`${JSON.stringify({ event: "started" })}\n`);
  },
  onStoppedLeading: () => {
    process.stdout.write(`${JSON.stringify({ event: "stopped" })}\n`);
  },
});
elector.start();
process.once("SIGTERM", () => {
  void elector.stop().then(() => process.exit(0));
});
