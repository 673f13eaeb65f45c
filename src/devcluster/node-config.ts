/**
 * The configuration files of one real node: containerd, CNI, kubelet and kube-proxy.
 * Pure functions of the node's paths and addresses, so they are unit-tested without a node.
 * Facts behind the settings: shared/REAL-NODES.md and the comments below.
 */
import { stringify } from 'yaml';
import { CLUSTER_CIDR } from './addresses.js';

export interface NodePaths {
  /** The node's own directory on the host (DIR/nodes/NODE). */
  root: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  proxyConfig: string;
  proxyKubeconfig: string;
  /** Bind-mounted over /var/lib and /var/log inside the node's mount namespace. */
  varLib: string;
  varLog: string;
}

export function nodePaths(root: string): NodePaths {
  return {
    root,
    containerdRoot: `${root}/containerd/root`,
    containerdState: `${root}/containerd/state`,
    containerdSocket: `${root}/containerd/containerd.sock`,
    runcRoot: `${root}/runc`,
    cniConfDir: `${root}/cni`,
    kubeletConfig: `${root}/kubelet.yaml`,
    kubeletKubeconfig: `${root}/kubelet.kubeconfig`,
    proxyConfig: `${root}/kube-proxy.yaml`,
    proxyKubeconfig: `${root}/kube-proxy.kubeconfig`,
    varLib: `${root}/var-lib`,
    varLog: `${root}/var-log`,
  };
}

export const CNI_BIN_DIR = '/usr/lib/cni';
export const RUNC = '/usr/sbin/runc';

/** containerd 2.x (config version 3) for one node: its own root, state, socket and runc root. */
export function containerdConfig(p: NodePaths, opts: { sandboxImage: string }): string {
  const q = (s: string) => `'${s}'`;
  return `version = 3
root = ${q(p.containerdRoot)}
state = ${q(p.containerdState)}
# NRI's default socket would be shared by every node's containerd.
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = ${q(p.containerdSocket)}

[ttrpc]
  address = ${q(`${p.containerdSocket}.ttrpc`)}

[debug]
  address = ''

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    # Built from source by the dev cluster and imported before the kubelet starts.
    sandbox = ${q(opts.sandboxImage)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # The VM's root lacks CAP_SYS_RESOURCE: without this, runc cannot lower oom_score_adj
  # below containerd's own and every sandbox fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(p.runcRoot)}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(CNI_BIN_DIR)}]
    conf_dir = ${q(p.cniConfDir)}
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
`;
}

/** bridge + host-local: pods of node-i in its own /24, reaching the rest through the node. */
export function cniConfig(pod: { subnet: string; gateway: string }): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'shimmy-dev',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          // A pod reaching itself through a Service IP comes back on the same port.
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: pod.subnet, gateway: pod.gateway }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export interface KubeletSettings {
  nodeIp: string;
  cgroupRoot: string;
  clientCaFile: string;
  podLogsDir: string;
  containerdSocket: string;
}

/** KubeletConfiguration (v1beta1) for a node that shares the machine with others. */
export function kubeletConfig(s: KubeletSettings): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: s.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    containerRuntimeEndpoint: `unix://${s.containerdSocket}`,
    // This machine mounts cgroup v1 hierarchies; kubelet 1.37 refuses them unless told.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    // Each node's pods live under a cgroup of its own, removed by `down`.
    cgroupRoot: s.cgroupRoot,
    failSwapOn: false,
    // Images are loaded, never pulled: never collect or evict them for disk pressure.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
    // No DNS server in the dev cluster: pods get no resolv.conf entries.
    resolvConf: '',
    podLogsDir: s.podLogsDir,
    serializeImagePulls: false,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: s.clientCaFile } },
    authorization: { mode: 'Webhook' },
    // The node heartbeats and the controller manager's grace period decide NotReady; the
    // defaults make a stopped node count as gone after 50 s.
    nodeStatusUpdateFrequency: '10s',
  });
}

export function kubeProxyConfig(opts: { node: string; kubeconfig: string }): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: opts.kubeconfig },
    hostnameOverride: opts.node,
    mode: 'iptables',
    clusterCIDR: CLUSTER_CIDR,
    // 0: leave the machine-wide conntrack table size and timeouts as they are.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { localhostNodePorts: false },
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '127.0.0.1:10256',
  });
}

/** A kubeconfig that authenticates with a bearer token. */
export function tokenKubeconfig(server: string, caPem: string, user: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'shimmy-dev', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'shimmy-dev', context: { cluster: 'shimmy-dev', user } }],
    'current-context': 'shimmy-dev',
  });
}
