/**
 * `shimmy demo --cluster`: the demo pipeline as pods on the dev cluster, one pod per stage
 * (image localhost/shimmy:dev, `shimmy demo-stage`), printed as `shimmy demo` prints it.
 *
 * In a fresh namespace opted into injection:
 *   - shm: one SharedMemoryChannel per hop (hop1 … hop4, `placement: Require`), each selecting
 *     the two stages it joins (label `shimmy-demo/hopN`), so the webhook gives every stage pod
 *     hostIPC and exactly its channels, and shimmy-scheduler puts the five on one node.
 *   - tcp: the same stages without channels, each sending to the next stage's pod IP.
 * Pods are created downstream first; each is awaited until its log says it is listening
 * (subscribed, or accepting on STAGE_PORT), so no frame is sent before its reader exists.
 * The resize stage's log carries the timing rows; stamps are CLOCK_MONOTONIC, which every
 * pod of this machine shares. The namespace is deleted at the end, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readState } from '../devcluster/cluster.js';
import { SHIMMY_IMAGE } from '../devcluster/images.js';
import { isAlive } from '../devcluster/processes.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { isNotFound } from '../k8s/api-errors.js';
import { GROUP, INJECTION_LABEL, VERSION, CHANNEL, type SharedMemoryChannel } from '../k8s/types.js';
import { STAGES, type StageName } from './frame.js';
import { hopRing, summarize, type DemoOptions, type DemoResult } from './pipeline.js';
import { STAGE_PORT, decodeReports, type PodStageConfig } from './stage-pod.js';
import { hopChannel, type StageReport } from './stage.js';

export interface ClusterDemoOptions extends DemoOptions {
  /** The dev cluster's state directory. */
  dir: string;
}

const RUN_LABEL = 'shimmy-demo/run';
const STAGE_LABEL = 'shimmy-demo/stage';
const hopLabel = (hop: number) => `shimmy-demo/${hopChannel(hop)}`;
const POLL_MS = 200;
/** From creation to listening: scheduling, the sandbox, the container, Node.js starting. */
const POD_START_MS = 120_000;

const clusterError = (problem: string, hint: string) => new ShimmyError(ErrorCode.DEV_CLUSTER, problem, hint);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Api {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  namespace: string;
}

function connect(dir: string): KubeConfig {
  const state = readState(dir);
  const up = `Start one: shimmy dev-cluster up --dir ${dir}`;
  if (!state) throw clusterError(`No dev cluster in ${dir}`, up);
  if (state.fakeNodes)
    throw clusterError(
      `The dev cluster in ${dir} has Node objects only (--fake-nodes), so its pods never run`,
      `Start one with real nodes: shimmy dev-cluster down --dir ${dir} && shimmy dev-cluster up --dir ${dir}`,
    );
  if (state.pids.apiserver === undefined || !isAlive(state.pids.apiserver))
    throw clusterError(
      `The dev cluster in ${dir} is not running (its kube-apiserver is gone)`,
      `Restart it: shimmy dev-cluster down --dir ${dir} && shimmy dev-cluster up --dir ${dir}`,
    );
  if (!state.installed)
    throw clusterError(
      `The dev cluster in ${dir} was started without Shimmy (--no-install), so no pod gets its channels`,
      `Start it with Shimmy: shimmy dev-cluster down --dir ${dir} && shimmy dev-cluster up --dir ${dir}`,
    );
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return kc;
}

/** Polls `check` until it returns a value; `what` names the wait in the timeout error. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw clusterError(
        `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`,
        'See `kubectl get pods,events` in the demo namespace while it runs, and the dev cluster logs',
      );
    await sleep(POLL_MS);
  }
}

const tail = (log: string) => log.trim().split('\n').slice(-15).join('\n');

async function podLog(api: Api, name: string): Promise<string> {
  return api.core.readNamespacedPodLog({ name, namespace: api.namespace, container: 'stage' }).catch(() => '');
}

/** Throws when a pod has failed or cannot start; its log or waiting reason says why. */
async function checkPod(api: Api, pod: V1Pod): Promise<void> {
  const name = pod.metadata!.name!;
  const phase = pod.status?.phase;
  if (phase === 'Failed') {
    const log = await podLog(api, name);
    // The image is built from the checkout by `dev-cluster up`: an older cluster has an older one.
    const hint = log.includes("unknown command 'demo-stage'")
      ? `The cluster's image ${SHIMMY_IMAGE} predates \`shimmy demo --cluster\`: restart the dev cluster from this checkout`
      : 'Its log above says why';
    throw clusterError(`Stage pod ${api.namespace}/${name} failed:\n${tail(log)}\n`, hint);
  }
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting?.reason && /ErrImage|ImagePull|InvalidImageName|CreateContainer|RunContainerError/.test(waiting.reason)) {
    throw clusterError(
      `Stage pod ${api.namespace}/${name} cannot start: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`,
      `The nodes need the image ${SHIMMY_IMAGE}, which dev-cluster up builds from this checkout`,
    );
  }
}

/** Waits until the pod's log has a report of `type`; returns it and the pod. */
async function awaitReport(api: Api, name: string, type: StageReport['type'], timeoutMs: number): Promise<{ report: StageReport; pod: V1Pod }> {
  return until(
    `pod ${api.namespace}/${name} to report '${type}'`,
    async () => {
      const pod = await api.core.readNamespacedPod({ name, namespace: api.namespace });
      await checkPod(api, pod);
      const phase = pod.status?.phase;
      if (phase !== 'Running' && phase !== 'Succeeded') return undefined;
      const reports = decodeReports(await podLog(api, name));
      const error = reports.find((r) => r.type === 'error');
      if (error) throw clusterError(`Stage pod ${api.namespace}/${name} failed: ${(error as { message: string }).message}`, 'See its log');
      const report = reports.find((r) => r.type === type);
      if (report) return { report, pod };
      if (phase === 'Succeeded')
        throw clusterError(
          `Stage pod ${api.namespace}/${name} ended without reporting '${type}':\n${tail(await podLog(api, name))}\n`,
          'Its log above says why',
        );
      return undefined;
    },
    timeoutMs,
  );
}

function stagePod(name: string, transport: 'shm' | 'tcp', stage: StageName, cfg: PodStageConfig): V1Pod {
  const index = STAGES.indexOf(stage);
  const labels: Record<string, string> = { [RUN_LABEL]: transport, [STAGE_LABEL]: stage };
  // A stage reads hop `index` and writes hop `index + 1`: it carries the labels of both.
  if (transport === 'shm') for (const hop of [index, index + 1]) if (hop >= 1 && hop < STAGES.length) labels[hopLabel(hop)] = 'true';
  return {
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'stage',
          image: SHIMMY_IMAGE,
          imagePullPolicy: 'Never',
          args: ['demo-stage', '--config', JSON.stringify(cfg)],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
      // shm pods are placed together by shimmy-scheduler (their channels Require it); the
      // tcp pods are kept on one node too, so both transports cross the same distance.
      ...(transport === 'tcp'
        ? {
            affinity: {
              podAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  { labelSelector: { matchLabels: { [RUN_LABEL]: 'tcp' } }, topologyKey: 'kubernetes.io/hostname' },
                ],
              },
            },
          }
        : {}),
    },
  };
}

async function createChannels(api: Api, opts: DemoOptions): Promise<void> {
  const { capacity, maxMessage } = hopRing(opts);
  for (let hop = 1; hop < STAGES.length; hop++) {
    const body: SharedMemoryChannel = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: CHANNEL.kind,
      metadata: { name: hopChannel(hop), namespace: api.namespace },
      spec: { selector: { matchLabels: { [hopLabel(hop)]: 'true' } }, capacity: `${capacity / (1 << 20)}Mi`, maxMessageSize: maxMessage, placement: 'Require' },
    };
    await api.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: api.namespace, plural: CHANNEL.plural, body });
  }
  // The webhook answers from the controller's watch: pods wait until it has seen every channel.
  for (let hop = 1; hop < STAGES.length; hop++) {
    await until(
      `channel ${api.namespace}/${hopChannel(hop)} to get its Ready condition from the Shimmy controller`,
      async () => {
        const ch = (await api.custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: api.namespace,
          plural: CHANNEL.plural,
          name: hopChannel(hop),
        })) as SharedMemoryChannel;
        return ch.status?.conditions?.some((c) => c.type === 'Ready') ? true : undefined;
      },
      30_000,
    );
  }
}

async function runInPods(api: Api, transport: 'shm' | 'tcp', opts: DemoOptions, progress: (line: string) => void): Promise<DemoResult> {
  const name = (stage: StageName) => `${transport}-${stage}`;
  let next: { host: string; port: number } | undefined;
  const nodes = new Set<string>();
  // Downstream first: each stage's reader exists before its writer starts.
  for (let i = STAGES.length - 1; i >= 0; i--) {
    const stage = STAGES[i]!;
    const cfg: PodStageConfig = {
      stage,
      transport,
      frames: opts.frames,
      fps: opts.fps,
      width: opts.width,
      height: opts.height,
      channels: 'injected',
      ...(transport === 'tcp' ? { listen: { host: '0.0.0.0', port: STAGE_PORT }, ...(next ? { next } : {}) } : {}),
    };
    await api.core.createNamespacedPod({ namespace: api.namespace, body: stagePod(name(stage), transport, stage, cfg) });
    if (i === 0) break;
    const { pod } = await awaitReport(api, name(stage), 'listening', POD_START_MS);
    if (pod.spec?.nodeName) nodes.add(pod.spec.nodeName);
    if (transport === 'tcp') {
      const ip =
        pod.status?.podIP ??
        (await until(
          `pod ${api.namespace}/${name(stage)} to get an IP`,
          async () => (await api.core.readNamespacedPod({ name: name(stage), namespace: api.namespace })).status?.podIP,
          30_000,
        ));
      next = { host: ip, port: STAGE_PORT };
    }
  }
  const camera = await until(
    `pod ${api.namespace}/${name('camera')} to be placed`,
    async () => (await api.core.readNamespacedPod({ name: name('camera'), namespace: api.namespace })).spec?.nodeName,
    POD_START_MS,
  );
  nodes.add(camera);
  progress(`${transport}: ${STAGES.map(name).join(', ')} on ${[...nodes].sort().join(', ')}; camera started`);

  // The camera needs frames/fps seconds; allow as much again, plus a pod start.
  const runMs = POD_START_MS + (opts.fps ? (2 * opts.frames * 1000) / opts.fps : 0) + 60_000;
  const deadline = Date.now() + runMs;
  // Watch every stage, so one failing anywhere fails the run at once.
  for (;;) {
    const pods = (await api.core.listNamespacedPod({ namespace: api.namespace, labelSelector: `${RUN_LABEL}=${transport}` })).items;
    for (const pod of pods) await checkPod(api, pod);
    if (pods.find((p) => p.metadata?.name === name('resize'))?.status?.phase === 'Succeeded') break;
    if (Date.now() > deadline)
      throw clusterError(
        `Timed out after ${Math.round(runMs / 1000)} s waiting for the ${transport} pipeline to finish (pods: ${pods.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', ')})`,
        "See the stage pods' logs",
      );
    await sleep(500);
  }
  const { report } = await awaitReport(api, name('resize'), 'finished', 30_000);
  if (report.type !== 'finished') throw clusterError('The resize stage reported no timing rows', 'See its log');
  return summarize(transport, report.frames);
}

async function deleteNamespace(core: CoreV1Api, namespace: string): Promise<void> {
  try {
    await core.deleteNamespace({ name: namespace, propagationPolicy: 'Background' });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function runClusterDemo(opts: ClusterDemoOptions, progress: (line: string) => void = () => {}): Promise<DemoResult[]> {
  const kc = connect(opts.dir);
  const api: Api = {
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    namespace: `shimmy-demo-${randomBytes(3).toString('hex')}`,
  };
  // Ctrl-C still deletes the namespace (and with it every pod and channel of the run).
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`${signal}: deleting namespace ${api.namespace}`);
    void deleteNamespace(api.core, api.namespace).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    progress(`namespace ${api.namespace} on the dev cluster in ${opts.dir}`);
    await api.core.createNamespace({
      // The stage pods need no privilege: their channels keep memory in volumes (the default).
      body: { metadata: { name: api.namespace, labels: { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    });
    // kube-controller-manager creates the ServiceAccount; pods are refused until it exists.
    await until(
      `ServiceAccount ${api.namespace}/default`,
      async () => {
        try {
          return (await api.core.readNamespacedServiceAccount({ name: 'default', namespace: api.namespace })) ? true : undefined;
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      60_000,
    );
    const results: DemoResult[] = [];
    for (const t of opts.transports) {
      progress(`running the pipeline as pods over ${t === 'shm' ? 'Shimmy shared-memory channels' : 'TCP, pod IP to pod IP'}...`);
      if (t === 'shm') await createChannels(api, opts);
      results.push(await runInPods(api, t, opts, progress));
    }
    return results;
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    progress(`deleting namespace ${api.namespace}`);
    // A failure here must not hide the run's own error.
    await deleteNamespace(api.core, api.namespace).catch((err: Error) => progress(`could not delete namespace ${api.namespace}: ${err.message}`));
  }
}
