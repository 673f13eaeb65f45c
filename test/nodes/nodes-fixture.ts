/**
 * A dev cluster with real nodes, started through the CLI as a user would
 * (`shimmy dev-cluster up`), and helpers to run `shimmy` pods on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readState, type DevClusterState } from '../../src/devcluster/cluster.js';
import { SHIMMY_IMAGE } from '../../src/devcluster/images.js';
import { GROUP, INJECTION_LABEL, VERSION, type SharedMemoryChannel, type SharedMemoryChannelSpec } from '../../src/k8s/types.js';
import { run } from '../helpers/proc.js';
import { eventually } from '../helpers/wait.js';

export interface NodesCluster {
  dir: string;
  state: DevClusterState;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  upOutput: string;
}

export async function upRealCluster(nodes: number): Promise<NodesCluster> {
  const dir = join(mkdtempSync(join(tmpdir(), 'shimmy-nodes-')), 'cluster');
  const up = await run(['dev-cluster', 'up', '--nodes', String(nodes), '--dir', dir]);
  if (up.code !== 0) throw new Error(`dev-cluster up failed (${up.code}):\n${up.stderr.slice(-4000)}`);
  const state = readState(dir)!;
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return { dir, state, kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi), upOutput: up.stderr };
}

/** `dev-cluster down`, then the temporary folder that held DIR. */
export async function downRealCluster(c: NodesCluster): Promise<{ code: number | null; stderr: string }> {
  const result = await run(['dev-cluster', 'down', '--dir', c.dir]);
  rmSync(dirname(c.dir), { recursive: true, force: true });
  return result;
}

/** An opted-in namespace whose default ServiceAccount exists (pods are refused before). */
export async function injectedNamespace(c: NodesCluster, name: string): Promise<void> {
  await c.core.createNamespace({ body: { metadata: { name, labels: { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
  await eventually(`ServiceAccount ${name}/default`, async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name })), 60_000);
}

/** Creates a channel and waits for its Ready condition (the controller has seen it). */
export async function readyChannel(c: NodesCluster, namespace: string, name: string, spec: SharedMemoryChannelSpec): Promise<SharedMemoryChannel> {
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'sharedmemorychannels',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SharedMemoryChannel', metadata: { name, namespace }, spec },
  });
  return eventually(
    `channel ${namespace}/${name} Ready`,
    async () => {
      const ch = (await c.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'sharedmemorychannels',
        name,
      })) as SharedMemoryChannel;
      return ch.status?.conditions?.some((k) => k.type === 'Ready') ? ch : undefined;
    },
    30_000,
  );
}

/** The channel as stored, with the status the master writes. */
export async function channelOf(c: NodesCluster, namespace: string, name: string): Promise<SharedMemoryChannel> {
  return (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'sharedmemorychannels', name })) as SharedMemoryChannel;
}

/**
 * A pod running `shimmy ARGS` in the shimmy image, as uid and group 10001 (the image's user)
 * without privilege escalation or capabilities: what the chart's pod policy admits with the
 * hostIPC a memory: HostIPC channel adds. `extra` replaces spec fields (securityContext too).
 */
export function shimmyPod(name: string, labels: Record<string, string>, args: string[], extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 2,
      securityContext: { runAsUser: 10001, runAsGroup: 10001, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'main',
          image: SHIMMY_IMAGE,
          imagePullPolicy: 'Never',
          args,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
      ...extra,
    },
  };
}

export async function podPhase(c: NodesCluster, namespace: string, name: string): Promise<string | undefined> {
  return (await c.core.readNamespacedPod({ name, namespace })).status?.phase;
}

/** Waits until every pod has ended; a Failed pod fails the wait with its logs. */
export async function waitSucceeded(c: NodesCluster, namespace: string, names: readonly string[], timeoutMs = 180_000): Promise<void> {
  try {
    await eventually(
      `pods ${names.join(', ')} Succeeded`,
      async () => {
        for (const name of names) {
          const phase = await podPhase(c, namespace, name);
          if (phase === 'Failed') throw new Error(`pod ${name} Failed: ${await logs(c, namespace, name)}`);
          if (phase !== 'Succeeded') return false;
        }
        return true;
      },
      timeoutMs,
    );
  } catch (err) {
    // Say where each pod stands, and what it last printed, so a hang can be told from a failure.
    const states: string[] = [];
    for (const name of names) {
      const tail = (await logs(c, namespace, name).catch((e: unknown) => `(no log: ${String(e)})`)).slice(-600);
      states.push(`${name}: ${await podPhase(c, namespace, name).catch(() => 'unknown')}; log ends: ${tail}`);
    }
    throw new Error(`${(err as Error).message}\n${states.join('\n')}`, { cause: err });
  }
}

export async function waitRunning(c: NodesCluster, namespace: string, names: readonly string[], timeoutMs = 120_000): Promise<void> {
  await eventually(
    `pods ${names.join(', ')} Running`,
    async () => {
      for (const name of names) if ((await podPhase(c, namespace, name)) !== 'Running') return false;
      return true;
    },
    timeoutMs,
  );
}

export async function logs(c: NodesCluster, namespace: string, name: string): Promise<string> {
  return c.core.readNamespacedPodLog({ name, namespace, container: 'main' });
}

export async function nodeOf(c: NodesCluster, namespace: string, name: string): Promise<string | undefined> {
  return (await c.core.readNamespacedPod({ name, namespace })).spec?.nodeName;
}

/** What `sub --verify --json` ends with. */
export interface VerifySummary {
  received: number;
  gaps: number;
  outOfOrder: number;
  corrupt: number;
  lost: number;
}

/** The last JSON line of a `sub --verify --json` pod's log. */
export function verifySummary(log: string): VerifySummary {
  const line = log
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON summary in the log:\n${log}`);
  return JSON.parse(line) as VerifySummary;
}
