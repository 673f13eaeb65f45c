/**
 * The master: level-triggered reconciliation of every channel's status and
 * ChannelEndpoints from the informer caches. Any change to channels, injected pods or
 * agent leases schedules one sync (debounced); a failed write schedules another.
 */
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi, type ObjectCache, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorText, isConflict, isNotFound } from '../k8s/api-errors.js';
import type { AgentLeases } from '../k8s/agent-leases.js';
import type { ChannelDirectory } from '../k8s/channel-directory.js';
import { CHANNEL, CHANNEL_LABEL, ENDPOINT, GROUP, VERSION, type ChannelEndpoint, type SharedMemoryChannel } from '../k8s/types.js';
import { carryTransitionTimes, desiredEndpoints, desiredStatus, placementsByChannel, sameStatus, withUndelivered, type Placement } from './channel-state.js';
import { assignGroups, groupsHeldByPods, type GroupRange } from './channel-groups.js';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface MasterOptions {
  custom: CustomObjectsApi;
  channels: ChannelDirectory;
  pods: ObjectCache<V1Pod>;
  endpoints: ObjectCache<ChannelEndpoint>;
  agents: AgentLeases;
  metrics: ControllerMetrics;
  log: Logger;
  debounceMs?: number;
  /** Hardened HostIPC: the range the channels' groups come from. */
  groups?: GroupRange;
}

const sameEndpoint = (a: ChannelEndpoint, b: ChannelEndpoint) =>
  JSON.stringify([a.spec, a.metadata.labels ?? {}]) === JSON.stringify([b.spec, b.metadata.labels ?? {}]);

export class Master {
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private pending = false;
  private active = false;

  constructor(private readonly opts: MasterOptions) {}

  start(): void {
    this.active = true;
    this.reconcileSoon();
  }

  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    await this.syncing;
  }

  /** Reconciles after the debounce; many calls within it make one reconcile. */
  reconcileSoon(delayMs = this.opts.debounceMs ?? 50): void {
    if (!this.active) return;
    if (this.syncing) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      let failed = false;
      this.syncing = this.reconcile()
        .catch((err) => {
          this.opts.log.warn({ err: errorText(err) }, 'master sync failed; retrying in 1 s');
          failed = true;
        })
        .finally(() => {
          this.syncing = undefined;
          const again = this.pending;
          this.pending = false;
          // Changes during the sync: debounce as usual; a failed write: back off.
          if (failed) this.reconcileSoon(1000);
          else if (again) this.reconcileSoon();
        });
    }, delayMs);
  }

  private api(namespace: string, plural: string) {
    return { group: GROUP, version: VERSION, namespace, plural };
  }

  private async reconcile(): Promise<void> {
    const { channels, pods, endpoints, metrics } = this.opts;
    const byNamespace = new Map<string, Map<string, Placement>>();
    const placementOf = (namespace: string, name: string): Placement => {
      let m = byNamespace.get(namespace);
      if (!m) byNamespace.set(namespace, (m = placementsByChannel(pods.list(namespace))));
      return m.get(name) ?? new Map();
    };
    const wanted = new Set<string>();
    let failures = 0;
    const all = channels.all();
    const range = this.opts.groups;
    const assignment = range ? assignGroups(all, groupsHeldByPods(pods.list(), range), range) : undefined;
    for (const channel of all) {
      const id = `${channel.metadata.namespace}/${channel.metadata.name}`;
      const group = assignment?.groups.get(id);
      const groupProblem = assignment?.exhausted.includes(id)
        ? `no free group left in the range ${range!.first}-${range!.first + range!.count - 1} (the controller's --channel-groups) for this HostIPC channel`
        : undefined;
      try {
        const desired = await this.syncChannel(channel, placementOf(channel.metadata.namespace!, channel.metadata.name!), group, groupProblem);
        for (const e of desired) wanted.add(`${e.metadata.namespace}/${e.metadata.name}`);
      } catch (err) {
        failures++;
        if (!isConflict(err))
          this.opts.log.warn({ channel: `${channel.metadata.namespace}/${channel.metadata.name}`, err: errorText(err) }, 'channel sync failed');
      }
    }
    for (const stale of endpoints.list()) {
      const key = `${stale.metadata.namespace}/${stale.metadata.name}`;
      if (wanted.has(key) || channels.get(stale.metadata.namespace!, stale.spec?.channel ?? '')) continue;
      await this.deleteEndpoint(stale);
    }
    metrics.channels.set(all.length);
    metrics.endpoints.set(wanted.size);
    if (failures) throw new ShimmyError(ErrorCode.KUBERNETES_API, `${failures} channel(s) failed to sync`, 'Retried in a second; the log has each failure');
  }

  private async syncChannel(
    channel: SharedMemoryChannel,
    placement: Placement,
    group: number | undefined,
    groupProblem: string | undefined,
  ): Promise<ChannelEndpoint[]> {
    const { custom, channels, endpoints, agents } = this.opts;
    const namespace = channel.metadata.namespace!;
    const name = channel.metadata.name!;
    const problem = channels.problemOf(namespace, name) ?? groupProblem;
    const mine = endpoints.list(namespace).filter((e) => e.metadata.labels?.[CHANNEL_LABEL] === name);
    const kept = withUndelivered(placement, mine, (node) => agents.isReady(node));
    const desired = problem ? [] : desiredEndpoints(channel, kept, group);
    const actual = new Map(mine.map((e) => [e.metadata.name!, e]));
    const reports = desired.flatMap((want) => actual.get(want.metadata.name!)?.status ?? []);
    for (const want of desired) {
      const have = actual.get(want.metadata.name!);
      actual.delete(want.metadata.name!);
      if (!have) await custom.createNamespacedCustomObject({ ...this.api(namespace, ENDPOINT.plural), body: want });
      else if (!sameEndpoint(have, want)) {
        want.metadata.resourceVersion = have.metadata.resourceVersion;
        await custom.replaceNamespacedCustomObject({ ...this.api(namespace, ENDPOINT.plural), name: want.metadata.name!, body: want });
      }
    }
    for (const stale of actual.values()) await this.deleteEndpoint(stale);
    // Status last: a reader that sees it (Split=True, say) finds the endpoints it names.
    const status = desiredStatus({
      channel,
      placement: kept,
      problem,
      agentReady: (n) => agents.isReady(n),
      reports,
      ...(group !== undefined ? { group } : {}),
    });
    carryTransitionTimes(channel.status, status);
    if (!sameStatus(channel.status, status)) {
      await custom.patchNamespacedCustomObjectStatus(
        { ...this.api(namespace, CHANNEL.plural), name, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
    return desired;
  }

  private async deleteEndpoint(endpoint: ChannelEndpoint): Promise<void> {
    try {
      await this.opts.custom.deleteNamespacedCustomObject({ ...this.api(endpoint.metadata.namespace!, ENDPOINT.plural), name: endpoint.metadata.name! });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
