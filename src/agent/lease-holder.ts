/**
 * Holds the node's agent Lease (the contract in src/k8s/agent-leases.ts): created if
 * absent, renewed every third of its duration while `healthy()` says so. An unhealthy
 * agent stops renewing and the Lease expires, which the master reports as AgentNotReady.
 */
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AGENT_LEASE_LABEL, AGENT_LEASE_LABEL_VALUE, agentLeaseName } from '../k8s/agent-leases.js';
import { errorText, isConflict, unlessNotFound } from '../k8s/api-errors.js';

export interface LeaseHolderOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  node: string;
  durationSeconds: number;
  healthy: () => boolean;
  /** False once the Lease must not be made again (uninstalling: the cleanup deletes it). */
  mayCreate?: () => boolean;
  /** Annotations to carry on the Lease (the uninstall handshake). */
  annotations?: () => Record<string, string>;
  log: Logger;
}

export class LeaseHolder {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private lastRenewal = 0;

  constructor(private readonly opts: LeaseHolderOptions) {}

  start(): void {
    const every = Math.max(1000, (this.opts.durationSeconds * 1000) / 3);
    this.renewSoon();
    this.timer = setInterval(() => this.renewSoon(), every);
  }

  /** Renews now (unless a renewal is running): e.g. when the annotations changed. */
  renewSoon(): void {
    if (this.renewing) return;
    this.renewing = this.renew()
      .catch((err) => this.opts.log.warn({ err: errorText(err) }, 'agent lease renewal failed'))
      .finally(() => (this.renewing = undefined));
  }

  /** When the Lease was last renewed (ms since the epoch), 0 if never. */
  renewedAt(): number {
    return this.lastRenewal;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
  }

  private desired(current: V1Lease | undefined): V1Lease {
    const { namespace, node, durationSeconds } = this.opts;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: agentLeaseName(node),
        namespace,
        labels: { ...(current?.metadata?.labels ?? {}), [AGENT_LEASE_LABEL]: AGENT_LEASE_LABEL_VALUE },
        annotations: { ...(current?.metadata?.annotations ?? {}), ...(this.opts.annotations?.() ?? {}) },
        ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: durationSeconds,
        renewTime: new V1MicroTime(),
        acquireTime: current?.spec?.acquireTime ?? new V1MicroTime(),
      },
    };
  }

  private async renew(): Promise<void> {
    if (!this.opts.healthy()) {
      this.opts.log.warn('not healthy: the agent lease is not renewed');
      return;
    }
    const { coordination, namespace, node } = this.opts;
    const name = agentLeaseName(node);
    const current = await unlessNotFound(coordination.readNamespacedLease({ name, namespace }));
    try {
      if (current) await coordination.replaceNamespacedLease({ name, namespace, body: this.desired(current) });
      else if (this.opts.mayCreate?.() ?? true) await coordination.createNamespacedLease({ namespace, body: this.desired(undefined) });
      else return;
      this.lastRenewal = Date.now();
    } catch (err) {
      // Someone else wrote it between our read and write: the next tick reads again.
      if (!isConflict(err)) throw err;
    }
  }
}
