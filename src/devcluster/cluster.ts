/**
 * `shimmy dev-cluster`: a real control plane on loopback for tests and local use.
 * etcd, kube-apiserver and kube-scheduler (the shimmy-scheduler profile from
 * scheduler-config/, using the extender) run as detached processes; N Node objects stand
 * in for kubelets; the Shimmy CRDs are installed; the controller runs unless told not
 * to. Everything lives in DIR (kubeconfig, state.json, logs/), and `down` removes it.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { createCA, issueServingCert } from '../webhook/certs.js';
import { ensureKubeBinary } from './kube-binary.js';
import { freePort } from '../free-port.js';
import { isAlive, startDetached, stopProcess, waitFor } from './processes.js';
import { bootstrapObjects } from './bootstrap-objects.js';

export const SCHEDULER_CONFIG_FILE = `${packageRoot}/scheduler-config/shimmy-scheduler.yaml`;
export const CONTROLLER_NAMESPACE = 'shimmy-system';

export interface DevClusterOptions {
  dir: string;
  nodes: number;
  /** Start `shimmy controller` (webhook, extender, master). */
  controller: boolean;
  /** Publish a ready agent Lease for every node (there is no agent yet). */
  agents: boolean;
  progress?: (line: string) => void;
}

export interface DevClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  kubernetesVersion: string;
  nodes: string[];
  namespace: string;
  pids: Record<string, number>;
  ports: { etcd: number; etcdPeer: number; apiserver: number; scheduler: number; defaultScheduler: number; webhook: number; extender: number; metrics: number };
  /** Where the controller is (or must be, with --no-controller) for the webhook and scheduler. */
  webhookUrl: string;
  extenderUrl: string;
  metricsUrl: string;
}

const stateFile = (dir: string) => join(dir, 'state.json');

export function readState(dir: string): DevClusterState | undefined {
  const file = stateFile(resolve(dir));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DevClusterState) : undefined;
}

function writeKubeconfig(file: string, server: string, caPem: string, token: string): void {
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'shimmy-dev', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'shimmy-admin', user: { token } }],
    contexts: [{ name: 'shimmy-dev', context: { cluster: 'shimmy-dev', user: 'shimmy-admin' } }],
    'current-context': 'shimmy-dev',
  };
  writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
}

/** scheduler-config/shimmy-scheduler.yaml with loopback URLs and no leader election. */
export function schedulerConfigFor(kubeconfig: string, extenderUrl: string): string {
  const config = parse(readFileSync(SCHEDULER_CONFIG_FILE, 'utf8')) as Record<string, unknown> & { extenders: { urlPrefix: string }[] };
  config.clientConnection = { kubeconfig };
  config.leaderElection = { leaderElect: false };
  for (const e of config.extenders) e.urlPrefix = extenderUrl;
  return stringify(config);
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

export async function upCluster(opts: DevClusterOptions): Promise<DevClusterState> {
  const dir = resolve(opts.dir);
  const progress = opts.progress ?? (() => undefined);
  const existing = readState(dir);
  if (existing && Object.values(existing.pids).some(isAlive)) {
    throw new ShimmyError(ErrorCode.DEV_CLUSTER, `A dev cluster is already running in ${dir}`, `Run shimmy dev-cluster down --dir ${opts.dir} first, or pick another --dir`);
  }
  if (!existing && existsSync(dir) && readdirSync(dir).length > 0) {
    // Never wipe a directory this command did not make (`--dir .`, say).
    throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${dir} is not empty and holds no dev cluster`, 'Give --dir a new or empty directory');
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const started = Date.now();
  const step = (what: string) => progress(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  const binary = await ensureKubeBinary(progress);
  const ports = {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    scheduler: await freePort(),
    defaultScheduler: await freePort(),
    webhook: await freePort(),
    extender: await freePort(),
    metrics: await freePort(),
  };
  const kubeconfig = join(dir, 'kubeconfig');
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const token = randomBytes(24).toString('hex');
  const state: DevClusterState = {
    dir,
    kubeconfig,
    server,
    kubernetesVersion: '',
    nodes: Array.from({ length: opts.nodes }, (_, i) => `node-${i + 1}`),
    namespace: CONTROLLER_NAMESPACE,
    pids: {},
    ports,
    webhookUrl: `https://127.0.0.1:${ports.webhook}/mutate`,
    extenderUrl: `http://127.0.0.1:${ports.extender}/`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}`,
  };
  const save = () => writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  const log = (name: string) => join(dir, 'logs', `${name}.log`);

  try {
    // PKI: the API server's serving certificate and the service-account signing key.
    const ca = createCA('shimmy-dev-cluster-ca', 365 * 24 * 3600e3);
    const serving = issueServingCert(ca, ['127.0.0.1', 'localhost', 'kubernetes.default.svc'], 365 * 24 * 3600e3);
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pki = (f: string) => join(dir, 'pki', f);
    writeFileSync(pki('ca.crt'), ca.cert);
    writeFileSync(pki('apiserver.crt'), serving.cert);
    writeFileSync(pki('apiserver.key'), serving.key, { mode: 0o600 });
    writeFileSync(pki('sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pki('sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(pki('tokens.csv'), `${token},shimmy-admin,shimmy-admin,"system:masters"\n`, { mode: 0o600 });
    writeKubeconfig(kubeconfig, server, ca.cert, token);

    state.pids.etcd = startDetached(binary, ['etcd', `--data-dir=${join(dir, 'etcd')}`, `--client-url=http://127.0.0.1:${ports.etcd}`, `--peer-url=http://127.0.0.1:${ports.etcdPeer}`], log('etcd'));
    save();
    await waitFor('etcd', () => httpOk(`http://127.0.0.1:${ports.etcd}/health`), 30_000, { pid: state.pids.etcd, log: log('etcd') });
    step('etcd ready');

    state.pids.apiserver = startDetached(binary, [
      'kube-apiserver',
      `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // The default reconciler refuses a loopback address for the kubernetes Service.
      '--endpoint-reconciler-type=none',
      `--secure-port=${ports.apiserver}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--token-auth-file=${pki('tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16',
      // No kube-controller-manager creates default ServiceAccounts here.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      `--cert-dir=${join(dir, 'pki')}`,
    ], log('kube-apiserver'));
    save();
    await waitFor('kube-apiserver', () => httpsReady(`${server}/readyz`, ca.cert, token), 120_000, { pid: state.pids.apiserver, log: log('kube-apiserver') });
    step('kube-apiserver ready');

    state.kubernetesVersion = await bootstrapObjects(kubeconfig, { namespace: CONTROLLER_NAMESPACE, nodes: state.nodes, agents: opts.agents });
    save();
    step(`CRDs installed, ${opts.nodes} nodes registered${opts.agents ? ', agent leases published' : ''}`);

    writeFileSync(join(dir, 'scheduler.yaml'), schedulerConfigFor(kubeconfig, state.extenderUrl));
    state.pids.scheduler = startDetached(binary, ['kube-scheduler', `--config=${join(dir, 'scheduler.yaml')}`, '--bind-address=127.0.0.1', `--secure-port=${ports.scheduler}`], log('shimmy-scheduler'));
    state.pids.defaultScheduler = startDetached(binary, ['kube-scheduler', `--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${ports.defaultScheduler}`], log('default-scheduler'));
    save();
    await waitFor('kube-scheduler (shimmy-scheduler)', () => httpsReady(`https://127.0.0.1:${ports.scheduler}/healthz`), 60_000, { pid: state.pids.scheduler, log: log('shimmy-scheduler') });
    step('kube-scheduler (default and shimmy-scheduler) started');

    if (opts.controller) {
      state.pids.controller = startDetached(process.execPath, [join(packageRoot, 'bin', 'shimmy.js'), 'controller', ...controllerArgs(state)], log('controller'));
      save();
      await waitFor('shimmy controller', () => httpOk(`${state.metricsUrl}/readyz`), 60_000, { pid: state.pids.controller, log: log('controller') });
      step('shimmy controller ready');
    }
    save();
    return state;
  } catch (err) {
    save();
    await downCluster(dir, { keepFiles: true });
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
  ];
}

/** Stops every process of the cluster in DIR and removes DIR (unless keepFiles). */
export async function downCluster(dir: string, opts: { keepFiles?: boolean } = {}): Promise<boolean> {
  const state = readState(dir);
  if (!state) return false;
  // Clients first, then the API server, then its store; each stage in parallel.
  const stages = [['controller', 'scheduler', 'defaultScheduler'], ['apiserver'], ['etcd']];
  for (const stage of stages) await Promise.all(stage.map((name) => (state.pids[name] ? stopProcess(state.pids[name]) : undefined)));
  if (!opts.keepFiles) rmSync(resolve(dir), { recursive: true, force: true });
  return true;
}
