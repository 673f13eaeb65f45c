/**
 * The dev cluster's address plan. Nodes are hosts of their own (network namespaces) on one
 * bridge: the host is 10.213.0.1 and serves the API server there; node-i is 10.213.0.(i+1)
 * and runs its pods in 10.214.i.0/24. Services get 10.96.0.0/16.
 */
export const HOST_IP = '10.213.0.1';
export const NODE_NETWORK_BITS = 24;
export const CLUSTER_CIDR = '10.214.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';
/** The `kubernetes` Service's ClusterIP: the first address of SERVICE_CIDR. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const MAX_REAL_NODES = 250;

/** node-1 … node-N. */
export function nodeName(index: number): string {
  return `node-${index}`;
}

export function nodeIndex(name: string): number {
  const m = /^node-(\d+)$/.exec(name);
  if (!m) throw new RangeError(`not a dev-cluster node name: ${name}`);
  return Number(m[1]);
}

export function nodeIp(index: number): string {
  return `10.213.0.${index + 1}`;
}

export function podCidr(index: number): { subnet: string; gateway: string } {
  return { subnet: `10.214.${index}.0/24`, gateway: `10.214.${index}.1` };
}

/** Names of the host objects of one cluster; `id` keeps two clusters' objects apart. */
export function hostNames(id: string) {
  return {
    bridge: `shimmy-${id}`,
    netns: (node: string) => `shimmy-${id}-${node}`,
    hostVeth: (index: number) => `shm${id}-${index}`,
    cgroup: `shimmy-${id}`,
  };
}

/** The extender Service's fixed ClusterIP: the dev cluster has no DNS for the scheduler to resolve its name. */
export const EXTENDER_SERVICE_IP = '10.96.0.88';
