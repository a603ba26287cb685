/**
 * The e2e cluster's configuration files, rendered from a plan of names, addresses and paths (pure: no I/O).
 * Everything a component would write outside the work dir by default is pointed inside it where the
 * component allows (containerd's root/state/opt/runc dirs, the kubelet's root, plugin and log dirs, the CNI
 * IPAM store); teardown (host-cleanup.ts) handles the rest.
 */

import { dumpYaml } from "@kubernetes/client-node";

/** Names, addresses, ports and paths of one cluster run. */
export interface ClusterPlan {
  /** The work dir; everything the run writes lives under it. */
  dir: string;
  nodeName: string;
  /** The node address, on the node bridge (/32): API server, kubelet, kube-proxy and CoreDNS bind here. */
  nodeIp: string;
  /** The bridge holding nodeIp. */
  nodeBridge: string;
  /** The pod bridge the CNI bridge plugin creates, and its subnet (the node's pod range) and gateway. */
  podBridge: string;
  podSubnet: string;
  podGateway: string;
  /** The cluster's pod range (holds podSubnet). */
  clusterCidr: string;
  serviceCidr: string;
  /** The CNI network's name (also names the FORWARD rule's comment). */
  cniNetwork: string;
  pauseImage: string;
  cniBinDir: string;
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiserver: number;
    kcm: number;
    scheduler: number;
    kubelet: number;
    kubeletHealthz: number;
    proxyHealthz: number;
    proxyMetrics: number;
    corednsReady: number;
  };
}

/** Paths under the work dir that several files refer to. */
export function paths(dir: string) {
  return {
    containerdSock: `${dir}/containerd/containerd.sock`,
    containerdConfig: `${dir}/config/containerd.toml`,
    cniConfDir: `${dir}/cni/net.d`,
    kubeletRoot: `${dir}/kubelet`,
    kubeletConfig: `${dir}/config/kubelet.yaml`,
    proxyConfig: `${dir}/config/kube-proxy.yaml`,
    resolvConf: `${dir}/config/resolv.conf`,
    corefile: `${dir}/config/Corefile`,
    podLogs: `${dir}/pod-logs`,
    volumes: `${dir}/volumes`,
  };
}

/** containerd 1.6 (config version 2) on its own socket, root, state and runc dirs, beside Docker's. */
export function containerdToml(p: ClusterPlan): string {
  const d = p.dir;
  return `version = 2
root = "${d}/containerd/root"
state = "${d}/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${paths(d).containerdSock}"
[ttrpc]
  address = "${paths(d).containerdSock}.ttrpc"
[debug]
  address = "${d}/containerd/debug.sock"
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${p.pauseImage}"
  # This sandbox lacks CAP_SYS_RESOURCE: runc cannot set a negative oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${d}/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${p.cniBinDir}"
    conf_dir = "${paths(d).cniConfDir}"
    max_conf_num = 1
`;
}

/** The pod network: a bridge with the node's pod subnet, no masquerading (no pod traffic leaves the host). */
export function cniConflist(p: ClusterPlan): string {
  return JSON.stringify(
    {
      cniVersion: "0.4.0",
      name: p.cniNetwork,
      plugins: [
        {
          type: "bridge",
          bridge: p.podBridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: p.podSubnet, gateway: p.podGateway }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: `${p.dir}/cni/ipam`,
          },
        },
      ],
    },
    null,
    2,
  );
}

/** The kubelet: cgroupfs, cgroup v1 allowed, its dirs in the work dir, CoreDNS on the node address. */
export function kubeletConfig(p: ClusterPlan, pki: { ca: string; cert: string; key: string }): string {
  const f = paths(p.dir);
  return dumpYaml({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "cgroupfs",
    failCgroupV1: false,
    containerRuntimeEndpoint: `unix://${f.containerdSock}`,
    address: p.nodeIp,
    port: p.ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: p.ports.kubeletHealthz,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.ca } },
    authorization: { mode: "Webhook" },
    tlsCertFile: pki.cert,
    tlsPrivateKeyFile: pki.key,
    clusterDNS: [p.nodeIp],
    clusterDomain: "cluster.local",
    resolvConf: f.resolvConf,
    volumePluginDir: `${p.dir}/kubelet-plugins`,
    podLogsDir: f.podLogs,
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // The host's disk is shared and often fuller than the defaults allow; never evict for it.
    evictionHard: {
      "memory.available": "100Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
    },
    failSwapOn: false,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ["pods"],
    serializeImagePulls: false,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    shutdownGracePeriod: "0s",
  });
}

/** A resolv.conf that points only at CoreDNS (which serves cluster.local and nothing else). */
export function resolvConf(p: ClusterPlan): string {
  return `nameserver ${p.nodeIp}\n`;
}

/** kube-proxy in iptables mode, bound to the node address, touching no conntrack sysctls. */
export function kubeProxyConfig(p: ClusterPlan, kubeconfig: string): string {
  return dumpYaml({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig },
    hostnameOverride: p.nodeName,
    clusterCIDR: p.clusterCidr,
    bindAddress: p.nodeIp,
    healthzBindAddress: `127.0.0.1:${p.ports.proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${p.ports.proxyMetrics}`,
    conntrack: { maxPerCore: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    iptables: { masqueradeAll: false, localhostNodePorts: false },
    nodePortAddresses: [`${p.nodeIp}/32`],
  });
}

/**
 * CoreDNS on the node address: cluster.local from the kubernetes plugin only. There is no `forward`
 * plugin and no other zone, so a name outside cluster.local gets REFUSED and no query leaves the machine.
 */
export function corefile(p: ClusterPlan, kubeconfig: string): string {
  return `cluster.local:53 {
    bind ${p.nodeIp}
    errors
    ready 127.0.0.1:${p.ports.corednsReady}
    kubernetes cluster.local {
        kubeconfig ${kubeconfig}
        pods insecure
    }
}
`;
}
