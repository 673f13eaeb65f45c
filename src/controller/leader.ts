/**
 * Leader election on a coordination.k8s.io/v1 Lease (the protocol of client-go's
 * leaderelection, which client-node does not ship): the holder renews renewTime; a
 * candidate takes the lease once renewTime + leaseDurationSeconds has passed; every
 * write carries the resourceVersion it read, so two candidates never both win.
 */
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorText, isConflict, unlessNotFound } from '../k8s/api-errors.js';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  retryEveryMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log: Logger;
}

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private readonly duration: number;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.duration = opts.leaseDurationSeconds ?? 15;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const tick = () => {
      this.busy = this.attempt().finally(() => (this.busy = undefined));
    };
    tick();
    this.timer = setInterval(() => this.busy ?? tick(), this.opts.retryEveryMs ?? 2000);
  }

  /** Stops competing; a leader shortens its lease so a standby takes over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.opts.identity) {
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = new V1MicroTime(Date.now() - 2000);
        await this.opts.coordination.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
      }
    } catch (err) {
      this.opts.log.warn({ err: errorText(err) }, 'could not release the leader lease');
    }
  }

  private read(): Promise<V1Lease | undefined> {
    return unlessNotFound(this.opts.coordination.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace }));
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.opts.log.info({ identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private async attempt(): Promise<void> {
    const { coordination, namespace, name, identity } = this.opts;
    const now = Date.now();
    try {
      const lease = await this.read();
      if (!lease) {
        await coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: this.duration,
              acquireTime: new V1MicroTime(now),
              renewTime: new V1MicroTime(now),
              leaseTransitions: 0,
            },
          },
        });
      } else {
        const spec = (lease.spec ??= {});
        const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
        const expired = renewed + (spec.leaseDurationSeconds ?? this.duration) * 1000 < now;
        if (spec.holderIdentity !== identity && spec.holderIdentity && !expired) {
          this.setLeading(false);
          return;
        }
        if (spec.holderIdentity !== identity) {
          spec.holderIdentity = identity;
          spec.acquireTime = new V1MicroTime(now);
          spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
        }
        spec.leaseDurationSeconds = this.duration;
        spec.renewTime = new V1MicroTime(now);
        await coordination.replaceNamespacedLease({ name, namespace, body: lease });
      }
      this.lastRenew = now;
      this.setLeading(true);
    } catch (err) {
      if (!isConflict(err)) this.opts.log.warn({ err: errorText(err) }, 'leader election attempt failed');
      // A leader that cannot renew steps down before its lease could pass to another.
      if (this.leading && Date.now() - this.lastRenew > (this.duration * 1000 * 2) / 3) this.setLeading(false);
    }
  }
}
