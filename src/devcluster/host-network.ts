/**
 * The dev cluster's network: a bridge on the host (the API server listens on its address)
 * and one network namespace per node, joined to the bridge by a veth pair, with routes so
 * that pods on every node reach each other, the host, and the API server.
 */
import { existsSync } from 'node:fs';
import { HOST_IP, NODE_NETWORK_BITS, hostNames, nodeIp, podCidr } from './addresses.js';
import { run, tryRun } from './system.js';

export interface NetworkNode {
  name: string;
  index: number;
}

const ip = (...args: string[]) => run('ip', args);

/** True when some interface of the host already has HOST_IP (another dev cluster is up). */
export function hostAddressInUse(): boolean {
  return run('ip', ['-o', '-4', 'addr', 'show']).includes(` ${HOST_IP}/`);
}

export function createNetwork(id: string, nodes: readonly NetworkNode[]): void {
  const names = hostNames(id);
  ip('link', 'add', names.bridge, 'type', 'bridge');
  ip('addr', 'add', `${HOST_IP}/${NODE_NETWORK_BITS}`, 'dev', names.bridge);
  ip('link', 'set', names.bridge, 'up');
  for (const node of nodes) {
    const ns = names.netns(node.name);
    const veth = names.hostVeth(node.index);
    ip('netns', 'add', ns);
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('link', 'set', veth, 'master', names.bridge, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${nodeIp(node.index)}/${NODE_NETWORK_BITS}`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', HOST_IP);
    // The node forwards between its pods' bridge and eth0, and kube-proxy's Service rules
    // must see bridged pod traffic (br_netfilter's switches are per network namespace).
    run('nsenter', [`--net=/run/netns/${ns}`, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
    for (const other of nodes) {
      if (other.index !== node.index) ip('-n', ns, 'route', 'add', podCidr(other.index).subnet, 'via', nodeIp(other.index));
    }
    // The API server (on the host) reaches webhook pods and kubelets directly.
    ip('route', 'add', podCidr(node.index).subnet, 'via', nodeIp(node.index), 'dev', names.bridge);
  }
}

/** Removes the namespaces (their veths and routes go with them) and the bridge. */
export function removeNetwork(id: string, nodes: readonly NetworkNode[]): string[] {
  const names = hostNames(id);
  const left: string[] = [];
  for (const node of nodes) {
    const ns = names.netns(node.name);
    if (existsSync(`/run/netns/${ns}`) && !tryRun('ip', ['netns', 'del', ns])) left.push(`network namespace ${ns}`);
    if (existsSync(`/sys/class/net/${names.hostVeth(node.index)}`) && !tryRun('ip', ['link', 'del', names.hostVeth(node.index)]))
      left.push(`veth ${names.hostVeth(node.index)}`);
  }
  if (existsSync(`/sys/class/net/${names.bridge}`) && !tryRun('ip', ['link', 'del', names.bridge])) left.push(`bridge ${names.bridge}`);
  return left;
}
