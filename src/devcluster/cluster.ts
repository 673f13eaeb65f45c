/**
 * `shimmy dev-cluster`: a real Kubernetes cluster on one machine for tests and local use.
 * etcd, kube-apiserver, kube-controller-manager and the default kube-scheduler run as
 * detached processes on the host; each node is a host of its own (network, IPC and mount
 * namespaces) with containerd, runc, CNI, a kubelet and kube-proxy (real-nodes.ts), and
 * Shimmy is installed with its Helm chart (install.ts) unless told not to. `fakeNodes` keeps
 * the fast mode: Node objects only, no kubelet, no controller manager; then the CRDs, the
 * shimmy-scheduler (scheduler-config/) and, unless told not to, the controller run from
 * here. Everything lives in DIR (kubeconfig, state.json, logs/), and `down` removes it.
 * With fake nodes shimmy-scheduler starts before the controller, so `up` makes the
 * controller's CA itself (into the Secret shimmy-webhook-tls, where the controller finds and
 * keeps it) and gives shimmy-scheduler a client certificate from it in DIR/pki/.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { createCA, issueServingCert } from '../webhook/certs.js';
import { WEBHOOK_TLS_SECRET } from '../k8s/types.js';
import { encodeTlsSecret } from '../webhook/cert-manager.js';
import { ensureGoTools, ensureHelm, kubeVersion } from './go-tools.js';
import { freePort } from '../free-port.js';
import { isAlive, startDetached, stopProcess, waitFor } from './processes.js';
import { bootstrapObjects } from './bootstrap-objects.js';
import { HOST_IP, KUBERNETES_SERVICE_IP, MAX_REAL_NODES, SERVICE_CIDR, CLUSTER_CIDR } from './addresses.js';
import { tokenKubeconfig } from './node-config.js';
import { buildPauseImage, buildSchedulerImage, buildShimmyImage } from './images.js';
import { installCommand, installShimmy } from './install.js';
import { importImage, specs, startNodes, stopNodes } from './real-nodes.js';
import { ensureNodeDependencies } from './node-deps.js';
import { issueClientCert } from '../webhook/certs.js';
import { createNetwork, hostAddressInUse } from './host-network.js';
import { hostNames } from './addresses.js';

export const SCHEDULER_CONFIG_FILE = `${packageRoot}/scheduler-config/shimmy-scheduler.yaml`;
export const CONTROLLER_NAMESPACE = 'shimmy-system';

/** A KubeSchedulerConfiguration extender's `tlsConfig`: its client certificate, and the CAs it checks the extender with. */
export interface ExtenderClientFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface DevClusterOptions {
  dir: string;
  nodes: number;
  /** Start `shimmy controller` (webhook, extender, master). */
  controller: boolean;
  /** Publish a ready agent Lease for every node (there is no agent yet). */
  agents: boolean;
  /** Node objects only (no kubelet, containerd or controller manager): fast, for scheduling tests. */
  fakeNodes?: boolean;
  /**
   * Real nodes: `helm install` Shimmy (controller, agents, shimmy-scheduler) from charts/shimmy
   * (default true). False leaves ready nodes and DIR/bin/helm with DIR/values-dev.yaml.
   * `controller` and `agents` apply to fake nodes only.
   */
  install?: boolean;
  progress?: (line: string) => void;
}

export interface DevClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  kubernetesVersion: string;
  nodes: string[];
  /** Real nodes (kubelet, containerd) or Node objects only. */
  fakeNodes: boolean;
  /** Names the cluster's host objects (bridge, namespaces, cgroups): see addresses.ts. */
  clusterId: string;
  networkCreated?: boolean;
  namespace: string;
  /** Host processes by name; a node's are `NODE/kubelet`, `NODE/containerd`, … */
  pids: Record<string, number>;
  ports: {
    etcd: number;
    etcdPeer: number;
    apiserver: number;
    scheduler: number;
    defaultScheduler: number;
    controllerManager: number;
    webhook: number;
    extender: number;
    metrics: number;
  };
  /** Real nodes: whether `up` installed Shimmy with Helm (release RELEASE in `namespace`). */
  installed?: boolean;
  /** Fake nodes: where the host controller is (or must be, with --no-controller) for the webhook and scheduler. */
  webhookUrl: string;
  extenderUrl: string;
  /** Fake nodes: shimmy-scheduler's client certificate for the extender (HTTPS, client certificates). */
  extenderTls?: ExtenderClientFiles;
  metricsUrl: string;
}

const stateFile = (dir: string) => join(dir, 'state.json');

export function readState(dir: string): DevClusterState | undefined {
  const file = stateFile(resolve(dir));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DevClusterState) : undefined;
}

/**
 * scheduler-config/shimmy-scheduler.yaml with loopback URLs, no leader election, and the
 * client certificate files in `tls` (none: the extender is called without TLS settings).
 */
export function schedulerConfigFor(kubeconfig: string, extenderUrl: string, tls: ExtenderClientFiles | undefined): string {
  const config = parse(readFileSync(SCHEDULER_CONFIG_FILE, 'utf8')) as Record<string, unknown> & {
    extenders: { urlPrefix: string; tlsConfig?: ExtenderClientFiles }[];
  };
  config.clientConnection = { kubeconfig };
  config.leaderElection = { leaderElect: false };
  for (const e of config.extenders) {
    e.urlPrefix = extenderUrl;
    if (tls) e.tlsConfig = { ...tls };
    else delete e.tlsConfig;
  }
  return stringify(config);
}

/**
 * Fake nodes: the controller's CA, made here and stored where the controller keeps it (the
 * Secret shimmy-webhook-tls; the controller issues its serving certificate from it on start),
 * and a client certificate from it for shimmy-scheduler, which starts before the controller.
 */
async function seedExtenderTls(kubeconfig: string, namespace: string, pki: (f: string) => string): Promise<ExtenderClientFiles> {
  const year = 365 * 24 * 3600e3;
  const ca = createCA('shimmy-webhook-ca', year);
  const client = issueClientCert(ca, 'shimmy-scheduler', ['shimmy'], year);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  await kc.makeApiClient(CoreV1Api).createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: WEBHOOK_TLS_SECRET, namespace, labels: { 'app.kubernetes.io/name': 'shimmy', 'app.kubernetes.io/component': 'webhook' } },
      type: 'Opaque',
      data: encodeTlsSecret({ 'ca.crt': ca.cert, 'ca.key': ca.key }),
    },
  });
  const files = { certFile: pki('extender-client.crt'), keyFile: pki('extender-client.key'), caFile: pki('extender-ca.crt') };
  writeFileSync(files.certFile, client.cert);
  writeFileSync(files.keyFile, client.key, { mode: 0o600 });
  writeFileSync(files.caFile, ca.cert);
  return files;
}

/** 200 from an HTTPS URL; without a CA the server's own certificate is not checked. */
async function httpsReady(url: string, caPem?: string, token?: string): Promise<boolean> {
  const tls = caPem ? { ca: caPem } : { rejectUnauthorized: false };
  return new Promise((resolveReady) => {
    const req = httpsRequest(url, { ...tls, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 2000 }, (res) => {
      res.resume();
      resolveReady(res.statusCode === 200);
    });
    req.on('error', () => resolveReady(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/** Refuses what would break a cluster with real nodes, before anything is started. */
function checkRealNodes(opts: DevClusterOptions, dir: string): void {
  if (process.getuid?.() !== 0)
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      'Real nodes need root (network namespaces, mounts, cgroups)',
      'Run as root, or use --fake-nodes for Node objects without kubelets',
    );
  if (opts.nodes > MAX_REAL_NODES)
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `--nodes ${opts.nodes} is more than ${MAX_REAL_NODES} real nodes`,
      'Use fewer nodes, or --fake-nodes for Node objects only',
    );
  // Inside a node, these host paths are replaced by the node's own.
  for (const hidden of ['/run', '/var/lib', '/var/log', '/dev/shm']) {
    if (dir === hidden || dir.startsWith(`${hidden}/`))
      throw new ShimmyError(
        ErrorCode.DEV_CLUSTER,
        `--dir ${dir} is under ${hidden}, which each node replaces with its own`,
        'Pick a directory elsewhere, e.g. .shimmy/dev-cluster',
      );
  }
  if (hostAddressInUse())
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `Another dev cluster with real nodes is running (${HOST_IP} is taken)`,
      'Stop it with `shimmy dev-cluster down --dir ITS_DIR`; one cluster with real nodes runs at a time',
    );
}

export async function upCluster(opts: DevClusterOptions): Promise<DevClusterState> {
  const dir = resolve(opts.dir);
  const progress = opts.progress ?? (() => undefined);
  const fake = opts.fakeNodes ?? false;
  const existing = readState(dir);
  if (existing && Object.values(existing.pids).some(isAlive)) {
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `A dev cluster is already running in ${dir}`,
      `Run shimmy dev-cluster down --dir ${opts.dir} first, or pick another --dir`,
    );
  }
  if (!existing && existsSync(dir) && readdirSync(dir).length > 0) {
    // Never wipe a directory this command did not make (`--dir .`, say).
    throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${dir} is not empty and holds no dev cluster`, 'Give --dir a new or empty directory');
  }
  if (!fake) checkRealNodes(opts, dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const started = Date.now();
  const step = (what: string) => progress(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  if (!fake) ensureNodeDependencies(progress);
  const kubeTools = await ensureGoTools('kube', progress);
  const binary = join(kubeTools, 'shimmy-kube');
  const nodeTools = fake ? '' : await ensureGoTools('node', progress);
  // The version shimmy-kube is built from: the scheduler image's tag, and the chart's value for it.
  const schedulerVersion = kubeVersion();
  const imageOptions = { cacheDir: join(packageRoot, '.cache', 'images'), nodeTools, progress };
  const images = fake
    ? []
    : [await buildPauseImage(imageOptions), await buildShimmyImage(imageOptions), await buildSchedulerImage(imageOptions, binary, schedulerVersion)];
  const helm = fake ? '' : await ensureHelm(progress);
  if (!fake) step('binaries and images ready');
  const ports = {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    scheduler: await freePort(),
    defaultScheduler: await freePort(),
    controllerManager: await freePort(),
    webhook: await freePort(),
    extender: await freePort(),
    metrics: await freePort(),
  };
  const kubeconfig = join(dir, 'kubeconfig');
  // Real nodes reach the API server on the host's bridge address; fake ones need loopback only.
  const apiHost = fake ? '127.0.0.1' : HOST_IP;
  const server = `https://${apiHost}:${ports.apiserver}`;
  const state: DevClusterState = {
    dir,
    kubeconfig,
    server,
    kubernetesVersion: '',
    nodes: Array.from({ length: opts.nodes }, (_, i) => `node-${i + 1}`),
    fakeNodes: fake,
    clusterId: randomBytes(2).toString('hex'),
    namespace: CONTROLLER_NAMESPACE,
    pids: {},
    ports,
    webhookUrl: `https://127.0.0.1:${ports.webhook}/mutate`,
    extenderUrl: `https://127.0.0.1:${ports.extender}/`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}`,
  };
  const save = () => writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  const log = (name: string) => join(dir, 'logs', `${name}.log`);

  try {
    save();
    // PKI: the API server's serving certificate, its client certificate for kubelets, the
    // service-account signing key, and a token per client.
    const year = 365 * 24 * 3600e3;
    const ca = createCA('shimmy-dev-cluster-ca', year);
    const serving = issueServingCert(
      ca,
      [
        apiHost,
        '127.0.0.1',
        KUBERNETES_SERVICE_IP,
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      year,
    );
    const kubeletClient = issueClientCert(ca, 'kube-apiserver-kubelet-client', ['system:masters'], year);
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pki = (f: string) => join(dir, 'pki', f);
    writeFileSync(pki('ca.crt'), ca.cert);
    writeFileSync(pki('apiserver.crt'), serving.cert);
    writeFileSync(pki('apiserver.key'), serving.key, { mode: 0o600 });
    writeFileSync(pki('kubelet-client.crt'), kubeletClient.cert);
    writeFileSync(pki('kubelet-client.key'), kubeletClient.key, { mode: 0o600 });
    writeFileSync(pki('sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pki('sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const newToken = () => randomBytes(24).toString('hex');
    const tokens = {
      admin: newToken(),
      controllerManager: newToken(),
      proxy: newToken(),
      nodes: Object.fromEntries(state.nodes.map((n) => [n, newToken()])) as Record<string, string>,
    };
    const tokenLines = [
      `${tokens.admin},shimmy-admin,shimmy-admin,"system:masters"`,
      `${tokens.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
      `${tokens.proxy},system:kube-proxy,system:kube-proxy`,
      ...state.nodes.map((n) => `${tokens.nodes[n]},system:node:${n},system:node:${n},"system:nodes"`),
    ];
    writeFileSync(pki('tokens.csv'), `${tokenLines.join('\n')}\n`, { mode: 0o600 });
    writeFileSync(kubeconfig, tokenKubeconfig(server, ca.cert, 'shimmy-admin', tokens.admin), { mode: 0o600 });

    state.pids.etcd = startDetached(
      binary,
      ['etcd', `--data-dir=${join(dir, 'etcd')}`, `--client-url=http://127.0.0.1:${ports.etcd}`, `--peer-url=http://127.0.0.1:${ports.etcdPeer}`],
      log('etcd'),
    );
    save();
    await waitFor('etcd', () => httpOk(`http://127.0.0.1:${ports.etcd}/health`), 30_000, { pid: state.pids.etcd, log: log('etcd') });
    step('etcd ready');

    if (!fake) {
      // The API server listens on the bridge: create it (and the nodes' namespaces) first.
      createNetwork(state.clusterId, specs(state.clusterId, dir, state.nodes));
      state.networkCreated = true;
      save();
      step(`network: bridge ${hostNames(state.clusterId).bridge} at ${HOST_IP}, ${state.nodes.length} node namespaces`);
    }
    const apiserverArgs = [
      'kube-apiserver',
      `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
      `--bind-address=${apiHost}`,
      `--advertise-address=${apiHost}`,
      `--secure-port=${ports.apiserver}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--token-auth-file=${pki('tokens.csv')}`,
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      `--cert-dir=${join(dir, 'pki')}`,
    ];
    if (fake) {
      apiserverArgs.push(
        // The default reconciler refuses a loopback address for the kubernetes Service.
        '--endpoint-reconciler-type=none',
        '--authorization-mode=RBAC',
        // No kube-controller-manager creates default ServiceAccounts here.
        '--disable-admission-plugins=ServiceAccount',
      );
    } else {
      apiserverArgs.push(
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--kubelet-client-certificate=${pki('kubelet-client.crt')}`,
        `--kubelet-client-key=${pki('kubelet-client.key')}`,
        // Nodes have no DNS names: logs and exec go to the node's address.
        '--kubelet-preferred-address-types=InternalIP',
        // The host has no kube-proxy: webhook Services are dialled at their pods' addresses.
        '--enable-aggregator-routing=true',
      );
    }
    state.pids.apiserver = startDetached(binary, apiserverArgs, log('kube-apiserver'));
    save();
    await waitFor('kube-apiserver', () => httpsReady(`${server}/readyz`, ca.cert, tokens.admin), 120_000, {
      pid: state.pids.apiserver,
      log: log('kube-apiserver'),
    });
    step('kube-apiserver ready');

    // Real nodes get Shimmy (CRDs included) from its chart, as users do; fake ones from here.
    state.kubernetesVersion = await bootstrapObjects(kubeconfig, {
      namespace: CONTROLLER_NAMESPACE,
      nodes: state.nodes,
      registerNodes: fake,
      shimmy: fake,
      agents: fake && opts.agents,
    });
    save();
    if (fake) {
      state.extenderTls = await seedExtenderTls(kubeconfig, CONTROLLER_NAMESPACE, pki);
      save();
      step(`CRDs installed, ${opts.nodes} nodes registered${opts.agents ? ', agent leases published' : ''}`);
    }

    if (!fake) {
      const kcmConfig = join(dir, 'kube-controller-manager.kubeconfig');
      writeFileSync(kcmConfig, tokenKubeconfig(server, ca.cert, 'system:kube-controller-manager', tokens.controllerManager), { mode: 0o600 });
      state.pids.controllerManager = startDetached(
        binary,
        [
          'kube-controller-manager',
          `--kubeconfig=${kcmConfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          '--leader-elect=false',
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          '--use-service-account-credentials=true',
          `--cluster-cidr=${CLUSTER_CIDR}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--cluster-name=shimmy-dev',
        ],
        log('kube-controller-manager'),
      );
      save();
      await waitFor('kube-controller-manager', () => httpsReady(`https://127.0.0.1:${ports.controllerManager}/healthz`), 60_000, {
        pid: state.pids.controllerManager,
        log: log('kube-controller-manager'),
      });
      step('kube-controller-manager ready');
    }

    state.pids.defaultScheduler = startDetached(
      binary,
      ['kube-scheduler', `--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${ports.defaultScheduler}`],
      log('default-scheduler'),
    );
    // With real nodes the chart runs shimmy-scheduler as a Deployment; fake nodes get it here.
    if (fake) {
      writeFileSync(join(dir, 'scheduler.yaml'), schedulerConfigFor(kubeconfig, state.extenderUrl, state.extenderTls));
      state.pids.scheduler = startDetached(
        binary,
        ['kube-scheduler', `--config=${join(dir, 'scheduler.yaml')}`, '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`],
        log('shimmy-scheduler'),
      );
    }
    save();
    await waitFor('kube-scheduler', () => httpsReady(`https://127.0.0.1:${ports.defaultScheduler}/healthz`), 60_000, {
      pid: state.pids.defaultScheduler,
      log: log('default-scheduler'),
    });
    if (fake)
      await waitFor('kube-scheduler (shimmy-scheduler)', () => httpsReady(`https://127.0.0.1:${ports.scheduler}/healthz`), 60_000, {
        pid: state.pids.scheduler,
        log: log('shimmy-scheduler'),
      });
    step(fake ? 'kube-scheduler (default and shimmy-scheduler) started' : 'kube-scheduler started');

    if (!fake) {
      await startNodes({
        clusterId: state.clusterId,
        dir,
        nodes: state.nodes,
        tools: { kube: binary, containerd: join(nodeTools, 'containerd'), ctr: join(nodeTools, 'ctr'), shimDir: nodeTools },
        images,
        kubeconfig,
        credentials: (node) => ({ server, caPem: ca.cert, caFile: pki('ca.crt'), kubeletToken: tokens.nodes[node]!, proxyToken: tokens.proxy }),
        started: (name, pid) => {
          state.pids[name] = pid;
          save();
        },
        step,
      });
    }

    if (!fake) {
      const install = opts.install ?? true;
      await installShimmy({ dir, kubeconfig, helm, kubernetesVersion: schedulerVersion, install, progress });
      state.installed = install;
      save();
      step(
        install ? 'Shimmy installed with Helm (controller, agents, shimmy-scheduler)' : `Shimmy not installed; to install it: ${installCommand(dir).join(' ')}`,
      );
    }

    if (fake && opts.controller) {
      state.pids.controller = startDetached(
        process.execPath,
        [join(packageRoot, 'bin', 'shimmy.js'), 'controller', ...controllerArgs(state)],
        log('controller'),
      );
      save();
      await waitFor('shimmy controller', () => httpOk(`${state.metricsUrl}/readyz`), 60_000, { pid: state.pids.controller, log: log('controller') });
      step('shimmy controller ready');
    }
    save();
    return state;
  } catch (err) {
    save();
    await downCluster(dir, { keepFiles: true }).catch(() => undefined);
    throw err;
  }
}

/** The controller's flags for this cluster (tests that start their own use them too). */
export function controllerArgs(state: DevClusterState): string[] {
  return [
    `--kubeconfig=${state.kubeconfig}`,
    `--namespace=${state.namespace}`,
    `--webhook-port=${state.ports.webhook}`,
    `--webhook-url=${state.webhookUrl}`,
    `--webhook-hosts=127.0.0.1,localhost`,
    `--extender-port=${state.ports.extender}`,
    `--metrics-port=${state.ports.metrics}`,
    '--listen=127.0.0.1',
    // No Service in front of it: nothing to wait for on shutdown.
    '--shutdown-delay=0s',
  ];
}

export interface DownResult {
  /** Host objects that could not be removed (empty when the host is clean). */
  leftovers: string[];
}

/** Stops every process of the cluster in DIR, removes its nodes' host objects, and DIR (unless keepFiles). */
export async function downCluster(dir: string, opts: { keepFiles?: boolean } = {}): Promise<DownResult | undefined> {
  const state = readState(dir);
  if (!state) return undefined;
  // Clients first, then the nodes, then the API server, then its store; each stage in parallel.
  await Promise.all(
    ['controller', 'scheduler', 'defaultScheduler', 'controllerManager'].map((name) => (state.pids[name] ? stopProcess(state.pids[name]) : undefined)),
  );
  const leftovers = state.fakeNodes === false ? await stopNodes(state.clusterId, state.dir, state.nodes, state.pids) : [];
  for (const stage of [['apiserver'], ['etcd']]) await Promise.all(stage.map((name) => (state.pids[name] ? stopProcess(state.pids[name]) : undefined)));
  if (!opts.keepFiles) rmSync(resolve(dir), { recursive: true, force: true });
  return { leftovers };
}

/** Imports an image archive into the containerd of every node of the cluster in DIR. */
export async function loadImage(dir: string, archive: string): Promise<string[]> {
  const state = readState(dir);
  if (!state) throw new ShimmyError(ErrorCode.DEV_CLUSTER, `No dev cluster in ${dir}`, 'Start one with `shimmy dev-cluster up`, or pass its --dir');
  if (state.fakeNodes)
    throw new ShimmyError(ErrorCode.DEV_CLUSTER, `The dev cluster in ${dir} has fake nodes, which run no containers`, 'Start it without --fake-nodes');
  if (!existsSync(archive)) throw new ShimmyError(ErrorCode.DEV_CLUSTER, `No image archive at ${archive}`, 'Give the path of a `docker save` or OCI archive');
  const ctr = join(await ensureGoTools('node'), 'ctr');
  for (const spec of specs(state.clusterId, state.dir, state.nodes)) importImage(ctr, spec.paths.containerdSocket, resolve(archive));
  return state.nodes;
}
