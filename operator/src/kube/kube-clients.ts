/**
 * Loading the Kubernetes client configuration and making the typed API clients the operator uses.
 */

import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PolicyV1Api,
} from "@kubernetes/client-node";

/** The API clients of one KubeConfig. */
export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  customObjects: CustomObjectsApi;
  apiextensions: ApiextensionsV1Api;
  coordination: CoordinationV1Api;
  eventsV1: EventsV1Api;
  /** Generic client for any kind (server-side apply of rendered manifests). */
  objects: KubernetesObjectApi;
}

/** In-cluster config when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error("no Kubernetes cluster configured: set KUBECONFIG or run in a cluster");
  }
  return kc;
}

/** Makes every client the operator needs from `kc`. */
export function makeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    customObjects: kc.makeApiClient(CustomObjectsApi),
    apiextensions: kc.makeApiClient(ApiextensionsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    eventsV1: kc.makeApiClient(EventsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}
