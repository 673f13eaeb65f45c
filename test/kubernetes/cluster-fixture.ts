/**
 * A real control plane for one test file: `shimmy dev-cluster` code with --no-controller,
 * and the Shimmy controller started in this process so tests can stop, restart and
 * inspect it. Everything is torn down in `stop()`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  V1MicroTime,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { startController, type ControllerOptions, type RunningController } from '../../src/controller/controller.js';
import { agentLease } from '../../src/devcluster/bootstrap-objects.js';
import { downCluster, upCluster, type DevClusterState } from '../../src/devcluster/cluster.js';
import { ensureHelm } from '../../src/devcluster/go-tools.js';
import { CHART_DIR } from '../../src/devcluster/install.js';
import { agentLeaseName } from '../../src/k8s/agent-leases.js';
import { eventually } from '../helpers/wait.js';
import { GROUP, INJECTION_LABEL, VERSION, type SharedMemoryChannel, type SharedMemoryChannelSpec } from '../../src/k8s/types.js';

export interface ClusterFixture {
  state: DevClusterState;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  admission: AdmissionregistrationV1Api;
  coordination: CoordinationV1Api;
  controller: RunningController | undefined;
  startController(overrides?: Partial<ControllerOptions>): Promise<RunningController>;
  stopController(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(opts: { nodes: number; agents: boolean }): Promise<ClusterFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'shimmy-k8s-test-'));
  const state = await upCluster({ dir, nodes: opts.nodes, controller: false, agents: opts.agents, fakeNodes: true });
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const log = pino({ level: 'info' }, pino.destination({ dest: join(dir, 'logs', 'controller.log'), sync: true }));
  const fixture: ClusterFixture = {
    state,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    controller: undefined,
    async startController(overrides = {}) {
      fixture.controller = await startController({
        kubeconfig: state.kubeconfig,
        namespace: state.namespace,
        listen: '127.0.0.1',
        webhookPort: state.ports.webhook,
        extenderPort: state.ports.extender,
        metricsPort: state.ports.metrics,
        webhookUrl: state.webhookUrl,
        webhookService: 'shimmy-controller',
        webhookHosts: ['127.0.0.1', 'localhost'],
        schedulerName: 'shimmy-scheduler',
        caValidityMs: 365 * 86_400_000,
        certValidityMs: 30 * 86_400_000,
        certCheckMs: 60_000,
        leaderElection: true,
        shutdownGraceMs: 500,
        log,
        ...overrides,
      });
      return fixture.controller;
    },
    async stopController() {
      await fixture.controller?.stop();
      fixture.controller = undefined;
    },
    async stop() {
      await fixture.stopController();
      await downCluster(dir);
    },
  };
  return fixture;
}

export async function createNamespace(f: ClusterFixture, name: string, injection: boolean): Promise<void> {
  await f.core.createNamespace({
    body: { metadata: { name, labels: injection ? { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'privileged' } : {} } },
  });
}

/** Creates a channel and, when the controller runs, returns once its caches hold it (as `kubectl wait` on Ready would). */
export async function createChannel(f: ClusterFixture, namespace: string, name: string, spec: SharedMemoryChannelSpec): Promise<SharedMemoryChannel> {
  const created = (await f.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'sharedmemorychannels',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SharedMemoryChannel', metadata: { name, namespace }, spec },
  })) as SharedMemoryChannel;
  const controller = f.controller;
  if (controller)
    await eventually(
      `controller sees channel ${namespace}/${name}`,
      async () => controller.view.channels.get(namespace, name)?.metadata.uid === created.metadata.uid,
    );
  return created;
}

export async function getChannel(f: ClusterFixture, namespace: string, name: string): Promise<SharedMemoryChannel> {
  return (await f.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'sharedmemorychannels', name })) as SharedMemoryChannel;
}

export function pod(name: string, labels: Record<string, string>, extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: { containers: [{ name: 'main', image: 'registry.invalid/shimmy-test:1', command: ['sleep', '1000'] }], ...extra },
  };
}

/** One template of the chart as `helm template` renders it, with `--set` values. */
export async function renderChartTemplate(template: string, namespace: string, ...set: string[]): Promise<KubernetesObject[]> {
  const helm = await ensureHelm();
  const args = ['template', 'shimmy', CHART_DIR, '-n', namespace, '--show-only', `templates/${template}`, ...set.flatMap((v) => ['--set', v])];
  const { stdout } = await promisify(execFile)(helm, args, { env: { ...process.env, HELM_CACHE_HOME: '/tmp/shimmy-helm-cache' } });
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => !!o?.kind);
}

/** Creates the objects of one chart template in the cluster (the pod policy, say). */
export async function applyChartTemplate(f: ClusterFixture, template: string, ...set: string[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(f.kc);
  for (const object of await renderChartTemplate(template, 'shimmy-system', ...set)) await api.create(object);
}

/** The API server's refusal of `body` (its response body); fails when the pod is admitted. */
export async function refusal(f: ClusterFixture, namespace: string, body: V1Pod): Promise<string> {
  try {
    await f.core.createNamespacedPod({ namespace, body });
  } catch (err) {
    return String((err as { body?: string }).body ?? err);
  }
  throw new Error(`pod ${body.metadata!.name} was admitted`);
}

/** The paper's pipeline: one pod per stage, all on the `frames` selector. */
export const PIPELINE = ['camera', 'metadata', 'detect', 'blur', 'resize'] as const;

export async function setAgentReady(f: ClusterFixture, node: string, ready: boolean): Promise<void> {
  const name = agentLeaseName(node);
  const namespace = f.state.namespace;
  const body = agentLease(namespace, node, 30);
  if (!ready) body.spec!.renewTime = new V1MicroTime(Date.now() - 3_600_000);
  try {
    const current = await f.coordination.readNamespacedLease({ name, namespace });
    body.metadata!.resourceVersion = current.metadata?.resourceVersion;
    await f.coordination.replaceNamespacedLease({ name, namespace, body });
  } catch {
    await f.coordination.createNamespacedLease({ namespace, body });
  }
  const controller = f.controller;
  if (controller)
    await eventually(`controller sees the agent on ${node} ${ready ? 'ready' : 'not ready'}`, async () => controller.view.agents.isReady(node) === ready);
}

export async function waitScheduled(f: ClusterFixture, namespace: string, names: readonly string[]): Promise<Map<string, string>> {
  return eventually(
    `pods ${names.join(', ')} scheduled`,
    async () => {
      const out = new Map<string, string>();
      for (const name of names) {
        const p = await f.core.readNamespacedPod({ name, namespace });
        if (!p.spec?.nodeName) return undefined;
        out.set(name, p.spec.nodeName);
      }
      return out;
    },
    30_000,
  );
}
