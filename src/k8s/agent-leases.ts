/**
 * The node agent's readiness signal. Each agent holds a coordination.k8s.io/v1 Lease in
 * the controller's namespace, labelled shimmy.dev/component=agent, with
 * spec.holderIdentity set to its node name, and renews it (renewTime) well within
 * leaseDurationSeconds. A node's agent is ready while its lease is unexpired.
 */
import type { V1Lease } from '@kubernetes/client-node';

export const AGENT_LEASE_LABEL = 'shimmy.dev/component';
export const AGENT_LEASE_LABEL_VALUE = 'agent';
export const agentLeaseName = (node: string): string => (node.length <= 240 ? `agent.${node}` : `agent.${node.slice(0, 220)}.${node.length}`);

export class AgentLeases {
  private readonly expiry = new Map<string, number>();
  private readonly byLease = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  upsert(lease: V1Lease): void {
    const node = lease.spec?.holderIdentity;
    const name = lease.metadata?.name ?? '';
    const previous = this.byLease.get(name);
    if (previous !== undefined) this.expiry.delete(previous);
    if (!node) return;
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string).getTime() : NaN;
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    this.byLease.set(name, node);
    this.expiry.set(node, Number.isFinite(renewed) ? renewed + duration : 0);
  }

  remove(lease: V1Lease): void {
    const name = lease.metadata?.name ?? '';
    const node = this.byLease.get(name);
    if (node !== undefined) this.expiry.delete(node);
    this.byLease.delete(name);
  }

  /** `now` lets a caller asking about many nodes read the clock once. */
  isReady(node: string, now = this.now()): boolean {
    return (this.expiry.get(node) ?? 0) > now;
  }

  clock(): number {
    return this.now();
  }
}

/**
 * The uninstall handshake (`shimmy cleanup`, the chart's pre-delete hook): the hook creates
 * this ConfigMap in the agents' namespace; each agent then removes every segment of its
 * node, creates no more, and sets SEGMENTS_REMOVED_ANNOTATION="true" on its Lease.
 */
export const UNINSTALL_CONFIGMAP = 'shimmy-uninstall';
export const SEGMENTS_REMOVED_ANNOTATION = 'shimmy.dev/segments-removed';
/** On an agent's Lease: where its replicator listens, `IP:PORT` (peers connect there). */
export const REPLICATION_ADDRESS_ANNOTATION = 'shimmy.dev/replication-address';
