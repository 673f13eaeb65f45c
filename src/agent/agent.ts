/**
 * `shimmy agent`: the node agent, one per node (a DaemonSet with hostIPC). It owns the
 * node's segments: it makes each channel's segment from the ChannelEndpoints of its node
 * before the pods that need it run, removes segments no endpoint wants once they have been
 * unused for a grace period (never one a process is attached to), reports each channel's
 * traffic into its ChannelEndpoint status and Prometheus, and holds the node's readiness
 * Lease while all of this works. It keeps no state of its own: a restarted agent adopts the
 * segments it finds.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import type { Logger } from 'pino';
import { channelKey, type ChannelRef } from '../channel/names.js';
import { ShimmyError } from '../errors.js';
import { buildHealthServer } from '../http/health-server.js';
import { agentLeaseName, REPLICATION_ADDRESS_ANNOTATION, SEGMENTS_REMOVED_ANNOTATION, UNINSTALL_CONFIGMAP } from '../k8s/agent-leases.js';
import { errorText, isNotFound, unlessNotFound } from '../k8s/api-errors.js';
import { watchResource } from '../k8s/informer.js';
import { nodeLabelValue } from '../k8s/node-label.js';
import {
  ENDPOINT,
  GROUP,
  MANAGED_BY_LABEL,
  MANAGER,
  NODE_LABEL,
  VERSION,
  type ChannelEndpoint,
  type ChannelEndpointStatus,
  type MemoryKind,
} from '../k8s/types.js';
import { AgentMetrics } from '../metrics/agent-metrics.js';
import { formatKey } from '../shm/segment.js';
import { publishedKey, startCsiPlugin } from '../csi/index.js';
import { ChannelFiles } from './channel-files.js';
import { LeaseHolder } from './lease-holder.js';
import { channelMountAuthorizer } from './volume-access.js';
import { TrafficReader, segmentStore, type MemoryStore } from './node-segments.js';
import { planSegments, sameSettings, withReplicatorUse, type WantedSegment } from './segment-plan.js';
import type { PeerAddress, ReplicatorReport } from '../replication/node-replicator.js';
import { ReplicationThread, type ReplicationOptions } from './replication.js';
import { parseReplicationAddress, peerStatuses, replicatedChannels } from './replication-plan.js';

export interface AgentOptions {
  kubeconfig?: string;
  node: string;
  /** Where its Lease and the uninstall ConfigMap live (the chart's namespace). */
  namespace: string;
  listen: string;
  metricsPort: number;
  leaseDurationSeconds: number;
  graceMs: number;
  /** How often segments are reconciled (also after every endpoint change). */
  resyncMs: number;
  /** How often traffic is read and written into the endpoints' status. */
  reportMs: number;
  segmentPermissions: number;
  /**
   * Hardened HostIPC: segments are made by this uid with the channel's group (the endpoint's
   * `group`) and mode 0660, never by root; an endpoint without a group gets no segment yet.
   * Unset: segments are made by the agent's own uid with `segmentPermissions`.
   */
  segmentOwner?: number;
  /** Serve channels with memory: Volume (memory files and the CSI plugin); without it only HostIPC channels are served. */
  volume?: VolumeOptions;
  /** Replicate channels (pub/sub and stream) with the agents of the endpoints' peer nodes; without it pods on different nodes do not hear each other. */
  replication?: ReplicationOptions;
  log: Logger;
}

export interface VolumeOptions {
  /** The node-local tmpfs directory of the channels' memory files. */
  root: string;
  /** The CSI plugin's socket (the kubelet dials it at this path, so it must be the same on the host). */
  csiSocketPath: string;
  /** The kubelet's plugin registration directory (`<kubelet root-dir>/plugins_registry`). */
  registrationDir: string;
}

export interface RunningAgent {
  metrics: AgentMetrics;
  stop(): Promise<void>;
}

/** The segment an endpoint asks for, or why the endpoint is not usable. */
export function wantedFrom(endpoint: ChannelEndpoint, segmentOwner?: number): WantedSegment | { problem: string } {
  const { spec, metadata } = endpoint;
  const ref: ChannelRef = { namespace: metadata.namespace!, name: spec.channel, ...(spec.channelUID ? { uid: spec.channelUID } : {}) };
  const key = channelKey(ref);
  if (formatKey(key) !== spec.key) return { problem: `endpoint key ${spec.key} does not match its channel` };
  const memory = spec.memory ?? 'HostIPC';
  const hardened = memory === 'HostIPC' && segmentOwner !== undefined;
  if (hardened && spec.group === undefined) return { problem: 'the channel has no group yet (the controller assigns one)' };
  return {
    key,
    ref,
    endpoint: `${metadata.namespace}/${metadata.name}`,
    memory,
    ...(hardened ? { owner: { uid: segmentOwner, gid: spec.group! } } : {}),
    settings: {
      mode: spec.mode === 'Stream' ? 'stream' : 'pubsub',
      capacity: spec.capacity,
      maxMessage: spec.maxMessageSize,
      slowConsumer: spec.slowConsumer === 'Overwrite' ? 'overwrite' : 'block',
    },
  };
}

const sameReport = (a: ChannelEndpointStatus | undefined, b: ChannelEndpointStatus) =>
  a !== undefined && JSON.stringify({ ...a, updatedAt: '' }) === JSON.stringify({ ...b, updatedAt: '' });

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const { log, node, namespace } = opts;
  const kc = loadKubeConfig(opts.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const metrics = new AgentMetrics();
  const traffic = new TrafficReader();
  const reported = new Map<string, ChannelEndpointStatus>();
  const files = opts.volume ? new ChannelFiles(opts.volume.root, (ref) => csi?.publishedChannels().get(publishedKey(ref.namespace, ref.name)) ?? 0) : undefined;
  files?.prepare();
  const csi = opts.volume
    ? await startCsiPlugin({
        csiSocketPath: opts.volume.csiSocketPath,
        registrationDir: opts.volume.registrationDir,
        root: opts.volume.root,
        nodeName: node,
        log: log.child({ part: 'csi' }),
        authorize: channelMountAuthorizer(core, custom),
        onVolumeOperation: (op, code) => metrics.volumeOperations.inc({ operation: op, code }),
      })
    : undefined;
  const replication = opts.replication ? new ReplicationThread({ ...opts.replication, node, reportMs: 1000, logLevel: log.level }, log) : undefined;
  await replication?.start();
  const replicationAddress = opts.replication ? `${opts.replication.address}:${opts.replication.port}` : undefined;
  const peerAddresses = new Map<string, PeerAddress>();
  const stores: MemoryStore[] = [segmentStore, ...(files ? [files] : [])];
  const storeFor = (kind: MemoryKind) => stores.find((s) => s.kind === kind);
  const unwantedSince = new Map<MemoryKind, Map<number, number>>();
  let uninstalling = false;
  let segmentsRemoved = false;
  let lastReconcileOk = 0;
  let stopping = false;

  const selector = `${MANAGED_BY_LABEL}=${MANAGER},${NODE_LABEL}=${nodeLabelValue(node)}`;
  const endpoints = watchResource<ChannelEndpoint>(kc, {
    name: 'channelendpoints',
    path: `/apis/${GROUP}/${VERSION}/${ENDPOINT.plural}`,
    list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: ENDPOINT.plural, labelSelector: selector }),
    labelSelector: selector,
    log,
  });
  const myEndpoints = () => endpoints.cache.list().filter((e) => e.spec?.node === node);

  const served = (): { endpoint: ChannelEndpoint; want: WantedSegment }[] => {
    const out: { endpoint: ChannelEndpoint; want: WantedSegment }[] = [];
    for (const e of myEndpoints()) {
      const w = wantedFrom(e, opts.segmentOwner);
      if ('key' in w) out.push({ endpoint: e, want: w });
      else log.warn({ endpoint: `${e.metadata.namespace}/${e.metadata.name}`, key: e.spec.key, problem: w.problem }, 'endpoint not served yet');
    }
    return out;
  };

  /** Where each peer node's replicator listens, from the annotation on its agent's Lease. */
  const refreshPeerAddresses = async (peers: Set<string>) => {
    for (const peer of peerAddresses.keys()) if (!peers.has(peer)) peerAddresses.delete(peer);
    for (const peer of peers) {
      try {
        const lease = await unlessNotFound(coordination.readNamespacedLease({ name: agentLeaseName(peer), namespace }));
        const address = parseReplicationAddress(lease?.metadata?.annotations?.[REPLICATION_ADDRESS_ANNOTATION]);
        if (address) peerAddresses.set(peer, { node: peer, ...address });
        else peerAddresses.delete(peer);
      } catch (err) {
        log.warn({ peer, err: errorText(err) }, "peer agent's Lease not read; its last known address is kept");
      }
    }
  };

  const configureReplication = async (all: { endpoint: ChannelEndpoint; want: WantedSegment }[]) => {
    if (!replication) return;
    // Only a segment with the endpoint's settings: the replicator's attachment would otherwise keep an old one from being replaced.
    const present = new Map(stores.map((store) => [store.kind, store.present()]));
    const ready = all.filter(({ want }) => present.get(want.memory)?.some((p) => p.key === want.key && sameSettings(p.settings, want.settings)));
    const channels = uninstalling ? [] : replicatedChannels(ready, (ref) => files?.ringPath(ref) ?? '');
    await refreshPeerAddresses(new Set(channels.flatMap((c) => c.peers)));
    replication.configure({ channels, addresses: [...peerAddresses.values()].sort((a, b) => a.node.localeCompare(b.node)) });
  };

  const checkUninstall = async () => {
    if (uninstalling) return;
    const signal = await unlessNotFound(core.readNamespacedConfigMap({ name: UNINSTALL_CONFIGMAP, namespace }));
    if (signal) {
      uninstalling = true;
      log.info('uninstall requested: removing every segment of this node and creating no more');
    }
  };

  const reconcile = async () => {
    await checkUninstall();
    if (!endpoints.isListed()) return;
    const servedNow = served();
    const all = servedNow.map((s) => s.want);
    const unserved = all.filter((w) => !storeFor(w.memory));
    for (const w of unserved)
      log.warn({ endpoint: w.endpoint, memory: w.memory }, 'this agent does not serve this kind of channel memory (start it with --channel-root)');
    const replicating = new Set(Object.keys(replication?.report()?.channels ?? {}));
    const actions = stores.flatMap((store) => {
      const plan = planSegments({
        wanted: all.filter((w) => w.memory === store.kind),
        present: withReplicatorUse(store.present(), replicating),
        unwantedSince: unwantedSince.get(store.kind) ?? new Map(),
        now: Date.now(),
        graceMs: opts.graceMs,
        uninstalling,
      });
      unwantedSince.set(store.kind, plan.unwantedSince);
      return plan.actions.map((action) => ({ action, store }));
    });
    let failed = unserved.length;
    for (const { action, store } of actions) {
      const channel = action.kind === 'remove' ? action.present.ref : action.want.ref;
      const where = { channel: `${channel.namespace}/${channel.name}`, memory: store.kind };
      try {
        if (action.kind === 'create') {
          const { replaced } = await store.create(action.want.ref, action.want.settings, opts.segmentPermissions, action.want.owner);
          if (replaced) {
            metrics.segmentActions.inc({ action: 'remove', reason: 'untrusted' });
            log.warn({ ...where, key: formatKey(action.want.key) }, 'removed a segment under the channel key that the agent did not make');
          }
          metrics.segmentActions.inc({ action: 'create', reason: 'wanted' });
          log.info(
            { ...where, key: formatKey(action.want.key), endpoint: action.want.endpoint, ...(action.want.owner ? { owner: action.want.owner } : {}) },
            'segment created',
          );
        } else if (action.kind === 'remove') {
          await store.remove(action.present);
          metrics.segmentActions.inc({ action: 'remove', reason: action.reason });
          traffic.forget(action.present.key);
          metrics.forget({ namespace: channel.namespace, channel: channel.name });
          log.info({ ...where, key: formatKey(action.present.key), reason: action.reason }, 'segment removed');
        }
      } catch (err) {
        failed++;
        log.warn({ ...where, action: action.kind, err: err instanceof ShimmyError ? err.message : errorText(err) }, 'segment action failed; retried');
      }
    }
    if (uninstalling && failed === 0 && !segmentsRemoved) {
      segmentsRemoved = true;
      // The uninstall hook waits for this annotation on the Lease.
      lease.renewSoon();
    }
    // A failed action (one segment) is counted and retried; only a pass that could not run
    // at all (no API server, no /proc/sysvipc) makes the agent unhealthy.
    if (failed) metrics.reconcileErrors.inc();
    await configureReplication(servedNow.filter((s) => storeFor(s.want.memory)));
    lastReconcileOk = Date.now();
    startLease();
  };

  const report = async () => {
    if (!endpoints.isListed()) return;
    const replicated = replication?.report();
    if (replicated) recordReplication(replicated);
    const segments = stores.flatMap((store) => store.present().map((p) => ({ ...p, store })));
    metrics.segments.set(segments.length);
    metrics.segmentBytes.set(segments.reduce((n, p) => n + p.sizeBytes, 0));
    const present = new Map(segments.map((p) => [`${p.store.kind}/${p.key}`, p]));
    for (const endpoint of myEndpoints()) {
      const want = wantedFrom(endpoint, opts.segmentOwner);
      if (!('key' in want)) continue;
      const have = present.get(`${want.memory}/${want.key}`);
      const labels = { namespace: want.ref.namespace, channel: want.ref.name };
      let status: ChannelEndpointStatus;
      if (uninstalling) status = { segment: 'Removing', message: 'Shimmy is being uninstalled', updatedAt: '' };
      else if (!have) status = { segment: 'Missing', message: 'the agent creates it on its next pass', updatedAt: '' };
      else {
        const reading = traffic.read(want.ref, have.store);
        const matches = sameSettings(have.settings, want.settings);
        status = {
          segment: matches ? 'Ready' : 'Mismatch',
          ...(have.shmId !== undefined ? { shmId: have.shmId } : {}),
          ...(matches ? {} : { message: 'the segment has older settings; it is replaced once no process is attached' }),
          updatedAt: '',
          ...reading?.traffic,
        };
        if (reading) {
          const t = reading.traffic;
          metrics.messages.inc(labels, reading.newMessages);
          metrics.bytes.inc(labels, reading.newBytes);
          metrics.publishers.set(labels, t.publishers);
          metrics.subscribers.set(labels, t.subscribers);
          metrics.lag.set(labels, t.lag);
          metrics.lost.set(labels, t.lost);
        }
      }
      if (endpoint.spec.peers.length > 0) {
        const off = replication ? undefined : 'this agent does not replicate (start it with --replication-port)';
        status.replication = peerStatuses(endpoint, replicated, (n) => peerAddresses.has(n), off);
      }
      const name = endpoint.metadata.name!;
      const id = `${endpoint.metadata.namespace}/${name}`;
      if (sameReport(reported.get(id) ?? endpoint.status, status)) continue;
      status.updatedAt = new Date().toISOString();
      try {
        await custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, namespace: endpoint.metadata.namespace!, plural: ENDPOINT.plural, name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        reported.set(id, status);
      } catch (err) {
        if (!isNotFound(err)) log.warn({ endpoint: id, err: errorText(err) }, 'endpoint status not written; retried');
      }
    }
    const current = new Set(myEndpoints().map((e) => `${e.metadata.namespace}/${e.metadata.name}`));
    for (const id of reported.keys()) if (!current.has(id)) reported.delete(id);
  };

  /** Counters from the thread's report into Prometheus (the thread counts from its start; a restart starts it over). */
  const lastCounts = new Map<string, number>();
  const advance = (key: string, value: number, inc: (by: number) => void) => {
    const last = lastCounts.get(key) ?? 0;
    const by = value >= last ? value - last : value;
    if (by > 0) inc(by);
    lastCounts.set(key, value);
  };
  const recordReplication = (r: ReplicatorReport) => {
    metrics.linkUp.reset();
    for (const link of r.links) {
      metrics.linkUp.set({ peer: link.node, transport: link.transport ?? '' }, link.state === 'Connected' ? 1 : 0);
      advance(`reconnects/${link.node}`, link.reconnects, (by) => metrics.reconnects.inc({ peer: link.node }, by));
    }
    for (const [id, peers] of [...Object.entries(r.finished).filter(([id]) => !(id in r.channels)), ...Object.entries(r.channels)]) {
      const [ns, channel] = id.split('/') as [string, string];
      for (const p of peers) {
        const labels = { namespace: ns, channel, peer: p.peer };
        advance(`out/${id}/${p.peer}`, p.forwarded, (by) => metrics.replicated.inc({ ...labels, direction: 'out' }, by));
        advance(`in/${id}/${p.peer}`, p.landed, (by) => metrics.replicated.inc({ ...labels, direction: 'in' }, by));
        advance(`resent/${id}/${p.peer}`, p.resent, (by) => metrics.resent.inc(labels, by));
        advance(`repeats/${id}/${p.peer}`, p.repeats, (by) => metrics.repeats.inc(labels, by));
        advance(`rejected/${id}/${p.peer}`, p.rejected, (by) => metrics.rejected.inc(labels, by));
        advance(`resumes/${id}/${p.peer}`, p.resumes, (by) => metrics.resumes.inc(labels, by));
        advance(`recovered/${id}/${p.peer}`, p.recovered, (by) => metrics.recovered.inc(labels, by));
        metrics.unacknowledged.set(labels, p.unacknowledged);
      }
    }
    advance('thread-restarts', replication?.restarts ?? 0, (by) => metrics.replicationRestarts.inc(by));
  };

  // One pass of each at a time; a pass asked for while one runs runs once after it.
  const serial = (name: string, pass: () => Promise<void>) => {
    let running: Promise<void> | undefined;
    let again = false;
    const run = (): void => {
      if (stopping) return;
      if (running) {
        again = true;
        return;
      }
      running = pass()
        .catch((err) => log.warn({ pass: name, err: errorText(err) }, `${name} failed; retried`))
        .finally(() => {
          running = undefined;
          if (again) {
            again = false;
            run();
          }
        });
    };
    return { run, idle: () => running ?? Promise.resolve() };
  };
  const reconcilePass = serial('reconcile', reconcile);
  const reportPass = serial('report', report);
  for (const event of ['add', 'update', 'delete'] as const) endpoints.informer.on(event, () => reconcilePass.run());

  const healthy = () => endpoints.isListed() && Date.now() - lastReconcileOk < 3 * opts.resyncMs + 5000;
  const lease = new LeaseHolder({
    coordination,
    namespace,
    node,
    durationSeconds: opts.leaseDurationSeconds,
    healthy,
    mayCreate: () => !uninstalling,
    annotations: (): Record<string, string> => ({
      ...(segmentsRemoved ? { [SEGMENTS_REMOVED_ANNOTATION]: 'true' } : {}),
      ...(replicationAddress ? { [REPLICATION_ADDRESS_ANNOTATION]: replicationAddress } : {}),
    }),
    log,
  });
  let leaseStarted = false;
  /** Once the first segment pass has run: the node is ready only when its segments are. */
  const startLease = () => {
    if (leaseStarted || stopping) return;
    leaseStarted = true;
    lease.start();
  };
  const health = buildHealthServer({
    metrics,
    log,
    notReady: () => [
      ...(stopping ? ['shutting down'] : []),
      ...(endpoints.isListed() ? [] : ['channelendpoints cache']),
      ...(lastReconcileOk ? [] : ['first segment reconcile']),
      ...(lease.renewedAt() ? [] : ['agent lease']),
      ...(replication && !replication.running ? ['replication thread'] : []),
    ],
  });
  await health.listen({ host: opts.listen, port: opts.metricsPort });

  const reconcileTimer = setInterval(() => reconcilePass.run(), opts.resyncMs);
  const reportTimer = setInterval(() => reportPass.run(), opts.reportMs);
  void endpoints.listed.then(() => reconcilePass.run());
  log.info({ namespace, metrics: opts.metricsPort, graceMs: opts.graceMs, replication: replicationAddress ?? 'off' }, 'shimmy agent started');

  return {
    metrics,
    async stop() {
      stopping = true;
      log.info('shutting down; segments stay for the next agent');
      clearInterval(reconcileTimer);
      clearInterval(reportTimer);
      await Promise.all([reconcilePass.idle(), reportPass.idle()]);
      await replication?.stop();
      // The Lease is left to expire: a restarted agent renews it before then.
      await lease.stop();
      await endpoints.stop();
      await csi?.stop();
      await health.close();
      log.info('stopped');
    },
  };
}
