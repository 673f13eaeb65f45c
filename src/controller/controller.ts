/**
 * `shimmy controller`: webhook (HTTPS), extender (HTTPS with client certificates) and master in one process. Every
 * replica serves the webhook and the extender from its own informer caches; the master
 * runs on the leader only.
 */
import { hostname } from 'node:os';
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  type V1Lease,
  type V1MutatingWebhookConfiguration,
  type V1Pod,
} from '@kubernetes/client-node';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import type { Logger } from 'pino';
import { AgentLeases, AGENT_LEASE_LABEL, AGENT_LEASE_LABEL_VALUE } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { watchResource, type WatchedResource } from '../k8s/informer.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import {
  CHANNEL,
  ENDPOINT,
  EXTENDER_CLIENT_SECRET,
  GROUP,
  INJECTED_LABEL,
  MANAGED_BY_LABEL,
  MANAGER,
  VERSION,
  WEBHOOK_TLS_SECRET,
  type ChannelEndpoint,
  type SharedMemoryChannel,
} from '../k8s/types.js';
import type { PlacementView } from '../extender/placement.js';
import { ExtenderWorker } from '../extender/extender-worker.js';
import type { CacheChange } from '../extender/worker-protocol.js';
import { WebhookCertManager } from '../webhook/cert-manager.js';
import { buildWebhookServer } from '../webhook/server.js';
import { loadWebhookTemplate } from '../webhook/webhook-config.js';
import { buildHealthServer } from '../http/health-server.js';
import { LeaderElector } from './leader.js';
import { Master } from './master.js';
import type { GroupRange } from './channel-groups.js';
import { ControllerMetrics } from '../metrics/controller-metrics.js';

export interface ControllerOptions {
  kubeconfig?: string;
  namespace: string;
  listen: string;
  webhookPort: number;
  extenderPort: number;
  metricsPort: number;
  /** Out-of-cluster webhook URL; otherwise the Service in `namespace`. */
  webhookUrl?: string;
  webhookService: string;
  webhookHosts: string[];
  /** The extender's Service (default shimmy-extender): its names join the serving certificate's. */
  extenderService?: string;
  /** Extra names and IPs of the extender for the serving certificate (its fixed ClusterIP). */
  extenderHosts?: string[];
  /** Controller issuer: the Secret with the scheduler's client certificate (default shimmy-extender-client; '' for none). */
  extenderClientSecret?: string;
  /** Serve the extender over plain HTTP, unauthenticated (default: HTTPS with client certificates). */
  extenderInsecureHttp?: boolean;
  webhookConfigFile?: string;
  /** Set on patched pods; empty leaves schedulerName alone. */
  schedulerName: string;
  /** The Secret holding the webhook's CA and serving certificate (default shimmy-webhook-tls). */
  tlsSecret?: string;
  /** 'external': cert-manager writes that Secret and the controller only reads it. */
  tlsIssuer?: 'controller' | 'external';
  /** With an external issuer, how long a start waits for the Secret (default 0: fail at once). */
  tlsWaitMs?: number;
  caValidityMs: number;
  certValidityMs: number;
  certCheckMs: number;
  leaderElection: boolean;
  identity?: string;
  /** Hardened memory: HostIPC: the segments' owner uid and the range of the channels' groups. */
  hostIPC?: { segmentOwner: number; groups: GroupRange };
  /** How long clients get to finish on shutdown before connections are cut (default 5 s). */
  shutdownGraceMs?: number;
  /**
   * On shutdown, how long the webhook and extender keep serving, not ready, before they stop
   * listening (default 0): a Service goes on sending new connections to a terminating pod until
   * its endpoints catch up, and each of those would be refused (an admission refused).
   */
  shutdownDelayMs?: number;
  log: Logger;
}

export interface RunningController {
  metrics: ControllerMetrics;
  /** The caches the webhook answers from, and the extender's worker copies (read them, never write). */
  view: PlacementView;
  /** The extender's metrics (it serves on a worker thread, with a registry of its own), as Prometheus text. */
  extenderMetrics(): Promise<string>;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** Keeps a cache of ours in step with an informer, and reports every change. */
function mirror<T extends KubernetesObject>(watch: WatchedResource<T>, upsert: (o: T) => void, remove: (o: T) => void, changed: () => void): void {
  watch.informer.on('add', (o) => (upsert(o), changed()));
  watch.informer.on('update', (o) => (upsert(o), changed()));
  watch.informer.on('delete', (o) => (remove(o), changed()));
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const { log, namespace } = opts;
  const kc = loadKubeConfig(opts.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const metrics = new ControllerMetrics();
  const directory = new ChannelDirectory(opts.hostIPC?.segmentOwner);
  const index = new PlacementIndex();
  const agents = new AgentLeases();
  const view: PlacementView = { channels: directory, index, agents, agentNamespace: namespace };
  let master: Master | undefined;
  const changed = () => master?.reconcileSoon();
  let stopping = false;

  const channelWatch = watchResource<SharedMemoryChannel>(kc, {
    name: 'sharedmemorychannels',
    path: `/apis/${GROUP}/${VERSION}/${CHANNEL.plural}`,
    list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: CHANNEL.plural }),
    log,
  });
  mirror(
    channelWatch,
    (c) => directory.upsert(c),
    (c) => directory.remove(c),
    changed,
  );

  const podWatch = watchResource<V1Pod>(kc, {
    name: 'pods',
    path: '/api/v1/pods',
    list: () => core.listPodForAllNamespaces({ labelSelector: `${INJECTED_LABEL}=true` }),
    labelSelector: `${INJECTED_LABEL}=true`,
    log,
  });
  mirror(
    podWatch,
    (p) => index.upsertPod(p),
    (p) => index.removePod(p),
    changed,
  );

  const agentSelector = `${AGENT_LEASE_LABEL}=${AGENT_LEASE_LABEL_VALUE}`;
  const leaseWatch = watchResource<V1Lease>(kc, {
    name: 'agent leases',
    path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    list: () => coordination.listNamespacedLease({ namespace, labelSelector: agentSelector }),
    labelSelector: agentSelector,
    log,
  });
  mirror(
    leaseWatch,
    (l) => agents.upsert(l),
    (l) => agents.remove(l),
    changed,
  );

  const endpointSelector = `${MANAGED_BY_LABEL}=${MANAGER}`;
  const endpointWatch = watchResource<ChannelEndpoint>(kc, {
    name: 'channelendpoints',
    path: `/apis/${GROUP}/${VERSION}/${ENDPOINT.plural}`,
    list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: ENDPOINT.plural, labelSelector: endpointSelector }),
    labelSelector: endpointSelector,
    log,
  });
  endpointWatch.informer.on('delete', changed);
  endpointWatch.informer.on('update', changed);

  const template = loadWebhookTemplate(opts.webhookConfigFile);
  const extenderService = opts.extenderService ?? 'shimmy-extender';
  const clientSecret = opts.extenderClientSecret ?? EXTENDER_CLIENT_SECRET;
  const certs = new WebhookCertManager({
    core,
    admission,
    namespace,
    secretName: opts.tlsSecret ?? WEBHOOK_TLS_SECRET,
    issuer: opts.tlsIssuer ?? 'controller',
    ...(opts.tlsWaitMs !== undefined ? { issuedWaitMs: opts.tlsWaitMs } : {}),
    template,
    ...(opts.webhookUrl ? { webhookUrl: opts.webhookUrl } : {}),
    hosts: [
      ...opts.webhookHosts,
      ...(opts.extenderHosts ?? []),
      `${opts.webhookService}.${namespace}.svc`,
      `${opts.webhookService}.${namespace}.svc.cluster.local`,
      `${extenderService}.${namespace}.svc`,
      `${extenderService}.${namespace}.svc.cluster.local`,
    ],
    ...((opts.tlsIssuer ?? 'controller') === 'controller' && clientSecret && !opts.extenderInsecureHttp ? { clientSecretName: clientSecret } : {}),
    caValidityMs: opts.caValidityMs,
    certValidityMs: opts.certValidityMs,
    propagationMs: Math.max(3000, 2 * opts.certCheckMs),
    checkEveryMs: opts.certCheckMs,
    metrics,
    log,
  });
  const configWatch = watchResource<V1MutatingWebhookConfiguration>(kc, {
    name: 'mutatingwebhookconfigurations',
    path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    list: () => admission.listMutatingWebhookConfiguration({ labelSelector: 'app.kubernetes.io/name=shimmy' }),
    labelSelector: 'app.kubernetes.io/name=shimmy',
    log,
  });
  // Someone changed or deleted the configuration: put it back.
  configWatch.informer.on('update', () => certs.reconcileSoon());
  configWatch.informer.on('delete', () => certs.reconcileSoon());

  const watches: WatchedResource<never>[] = [channelWatch, podWatch, leaseWatch, endpointWatch, configWatch] as unknown as WatchedResource<never>[];
  // The extender serves on a worker thread from its own copy of what it reads: every change
  // of these three caches is forwarded.
  let extender: ExtenderWorker | undefined;
  const forwarded = [
    [channelWatch, 'channel'],
    [podWatch, 'pod'],
    [leaseWatch, 'lease'],
  ] as [WatchedResource<KubernetesObject>, CacheChange['kind']][];
  const change = (kind: CacheChange['kind'], op: CacheChange['op'], object: KubernetesObject) => ({ kind, op, object }) as CacheChange;
  for (const [watch, kind] of forwarded) {
    mirror(
      watch,
      (object) => extender?.change(change(kind, 'upsert', object)),
      (object) => extender?.change(change(kind, 'remove', object)),
      () => undefined,
    );
  }
  const snapshot = (): CacheChange[] => forwarded.flatMap(([watch, kind]) => watch.cache.list().map((object) => change(kind, 'upsert', object)));
  const assumptionTimer = setInterval(() => index.expireAssumptions(), 5000);

  // Health first: /readyz says what is still missing while the API server is unreachable.
  const listening = { webhook: false };
  const health = buildHealthServer({
    metrics,
    moreMetrics: () => extender?.metrics() ?? Promise.resolve(''),
    log,
    notReady: () => [
      ...(stopping ? ['shutting down'] : []),
      ...watches.filter((w) => !w.isListed()).map((w) => `${w.name} cache`),
      ...Object.entries(listening)
        .filter(([, up]) => !up)
        .map(([name]) => `${name} server`),
      ...(extender?.listening ? [] : ['extender server']),
    ],
  });
  await health.listen({ host: opts.listen, port: opts.metricsPort });
  let webhook: ReturnType<typeof buildWebhookServer>;
  const opened: { close(): Promise<void> }[] = [];
  try {
    // The webhook answers only once it knows the channels: an early answer would skip pods.
    await channelWatch.listed;
    const firstPair = await certs.loadCertificate();
    webhook = buildWebhookServer({
      ...(opts.shutdownGraceMs !== undefined ? { shutdownGraceMs: opts.shutdownGraceMs } : {}),
      context: { match: (ns, labels) => directory.match(ns, labels), ...(opts.schedulerName ? { schedulerName: opts.schedulerName } : {}) },
      tls: firstPair,
      metrics,
      log,
    });
    certs.onCertificate((pair) => {
      webhook.useCertificate(pair);
      log.info('webhook serving certificate swapped in');
    });
    const extenderTls = () => ({ ...certs.currentCertificate(), clientCAs: certs.clientCAs() });
    if (opts.extenderInsecureHttp)
      log.warn('the scheduler extender serves plain HTTP without authentication (--extender-insecure-http): anyone who reaches it can steer placement');
    const worker = new ExtenderWorker({
      host: opts.listen,
      port: opts.extenderPort,
      agentNamespace: namespace,
      ...(opts.shutdownGraceMs !== undefined ? { shutdownGraceMs: opts.shutdownGraceMs } : {}),
      ...(opts.extenderInsecureHttp ? {} : { tls: extenderTls() }),
      logLevel: log.level,
      snapshot,
      log,
    });
    if (!opts.extenderInsecureHttp) {
      certs.onCertificate(() => worker.useTls(extenderTls()));
      certs.onClientCAs(() => worker.useTls(extenderTls()));
    }
    await webhook.app.listen({ host: opts.listen, port: opts.webhookPort });
    opened.push(webhook);
    listening.webhook = true;
    // Registered only now that it answers: the API server calls it from this moment on.
    await certs.start();
    extender = worker;
    await worker.start();
    opened.push(worker);
  } catch (err) {
    // A start that failed half-way (no RBAC for the Secret, say) must not leave watches running.
    clearInterval(assumptionTimer);
    await Promise.all(opened.map((server) => server.close()));
    await certs.stop();
    await Promise.all(watches.map((w) => w.stop()));
    await health.close();
    throw err;
  }

  const identity = opts.identity ?? `${hostname()}_${process.pid}`;
  const startMaster = () => {
    master = new Master({
      custom,
      channels: directory,
      pods: podWatch.cache,
      endpoints: endpointWatch.cache,
      agents,
      metrics,
      log: log.child({ part: 'master' }),
      ...(opts.hostIPC ? { groups: opts.hostIPC.groups } : {}),
    });
    metrics.leader.set(1);
    void Promise.all(watches.map((w) => w.listed)).then(() => master?.start());
  };
  const stopMaster = () => {
    metrics.leader.set(0);
    void master?.stop();
    master = undefined;
  };
  const elector = opts.leaderElection
    ? new LeaderElector({ coordination, namespace, name: 'shimmy-controller', identity, onStartedLeading: startMaster, onStoppedLeading: stopMaster, log })
    : undefined;
  if (elector) elector.start();
  else startMaster();
  log.info(
    { webhook: opts.webhookPort, extender: opts.extenderPort, extenderTls: !opts.extenderInsecureHttp, metrics: opts.metricsPort, identity },
    'shimmy controller started',
  );

  return {
    metrics,
    view,
    extenderMetrics: () => extender?.metrics() ?? Promise.resolve(''),
    isLeader: () => (elector ? elector.isLeader() : true),
    async stop() {
      stopping = true;
      clearInterval(assumptionTimer);
      await elector?.stop();
      stopMaster();
      if (opts.shutdownDelayMs) {
        log.info({ delayMs: opts.shutdownDelayMs }, 'shutting down: not ready, still serving while the Service lets go of this pod');
        await new Promise((r) => setTimeout(r, opts.shutdownDelayMs));
      }
      log.info('shutting down: finishing in-flight requests');
      await Promise.all([webhook.close(), extender?.close()]);
      await certs.stop();
      await Promise.all(watches.map((w) => w.stop()));
      await health.close();
      log.info('stopped');
    },
  };
}
