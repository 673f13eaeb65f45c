/**
 * The real nodes of a dev cluster: per node a network namespace on the cluster's bridge,
 * its own IPC and mount namespaces, containerd 2.x with runc and CNI, a kubelet and
 * kube-proxy; images are imported into each containerd before its kubelet starts.
 * `stopNodes` removes every process, cgroup, mount, namespace, veth and the bridge.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, ShimmyError } from '../errors.js';
import { hostNames } from './addresses.js';
import { processesIn, removeCgroup } from './cgroups.js';
import { removeNetwork } from './host-network.js';
import { PAUSE_IMAGE, type ImageArchive } from './images.js';
import { nodeFailure, nodeSpec, prepareNode, startHolder, startInNode, type NodeCredentials, type NodeSpec } from './node-host.js';
import { isAlive, stopProcess, waitFor } from './processes.js';
import { run } from './system.js';

export interface NodeTools {
  kube: string;
  containerd: string;
  ctr: string;
  shimDir: string;
}

export interface StartNodesOptions {
  clusterId: string;
  dir: string;
  nodes: string[];
  tools: NodeTools;
  images: ImageArchive[];
  credentials: (node: string) => NodeCredentials;
  kubeconfig: string;
  /** Records a started process (so that a failed start is still torn down). */
  started: (name: string, pid: number) => void;
  step: (what: string) => void;
}

const logOf = (dir: string, node: string, what: string) => join(dir, 'logs', `${node}-${what}.log`);

export function specs(clusterId: string, dir: string, nodes: readonly string[]): NodeSpec[] {
  return nodes.map((name, i) => nodeSpec(clusterId, dir, name, i + 1));
}

/** Imports an image archive into a node's containerd (namespace k8s.io, as the CRI uses). */
export function importImage(ctr: string, socket: string, archive: string): void {
  run(ctr, ['--address', socket, '-n', 'k8s.io', 'images', 'import', '--platform', 'linux/amd64', archive], { timeoutMs: 300_000 });
}

async function startOne(spec: NodeSpec, o: StartNodesOptions): Promise<void> {
  const log = (what: string) => logOf(o.dir, spec.name, what);
  prepareNode(spec, o.credentials(spec.name), { sandbox: PAUSE_IMAGE });
  const holder = await startHolder(spec, log('namespaces'));
  o.started(`${spec.name}/namespaces`, holder);

  const env = { ...process.env, PATH: `${o.tools.shimDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  const containerd = startInNode(spec, holder, [o.tools.containerd, '--config', join(spec.paths.root, 'containerd.toml')], log('containerd'), env);
  o.started(`${spec.name}/containerd`, containerd);
  await waitFor(
    `${spec.name}: containerd`,
    async () => {
      run(o.tools.ctr, ['--address', spec.paths.containerdSocket, 'version'], { timeoutMs: 5000 });
      return true;
    },
    30_000,
    { pid: containerd, log: log('containerd') },
  ).catch((err: unknown) => {
    throw nodeFailure(spec, 'containerd did not start', log('containerd'), err);
  });
  for (const image of o.images) importImage(o.tools.ctr, spec.paths.containerdSocket, image.path);

  const kubelet = startInNode(
    spec,
    holder,
    [
      o.tools.kube,
      'kubelet',
      `--config=${spec.paths.kubeletConfig}`,
      `--kubeconfig=${spec.paths.kubeletKubeconfig}`,
      `--hostname-override=${spec.name}`,
      `--node-ip=${spec.ip}`,
      '--node-labels=shimmy.dev/dev-cluster=true',
      '--v=1',
    ],
    log('kubelet'),
    env,
  );
  o.started(`${spec.name}/kubelet`, kubelet);
  const proxy = startInNode(spec, holder, [o.tools.kube, 'kube-proxy', `--config=${spec.paths.proxyConfig}`], log('kube-proxy'), env);
  o.started(`${spec.name}/kube-proxy`, proxy);
}

/** Starts every node and waits until each is Ready (by its kubelet) and untainted. */
export async function startNodes(o: StartNodesOptions): Promise<void> {
  const all = specs(o.clusterId, o.dir, o.nodes);
  await Promise.all(all.map((s) => startOne(s, o)));
  o.step(`containerd, kubelet and kube-proxy started on ${all.length} nodes, images loaded`);
  const kc = new KubeConfig();
  kc.loadFromFile(o.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const started = Date.now();
  await Promise.all(
    all.map(async (spec) => {
      const kubeletLog = logOf(o.dir, spec.name, 'kubelet');
      try {
        await waitFor(
          `${spec.name} Ready`,
          async () => {
            const node = await core.readNode({ name: spec.name });
            const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
            const tainted = node.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/not-ready');
            return !!ready && !tainted;
          },
          120_000,
        );
      } catch (err) {
        throw nodeFailure(spec, 'did not become Ready within 120 s', kubeletLog, err);
      }
      o.step(`${spec.name} Ready (${((Date.now() - started) / 1000).toFixed(1)} s after the kubelets started)`);
    }),
  );
}

/** What `down` could not remove; empty when the host is clean. */
export async function stopNodes(clusterId: string, dir: string, nodes: readonly string[], pids: Record<string, number>): Promise<string[]> {
  const all = specs(clusterId, dir, nodes);
  const names = hostNames(clusterId);
  // kubelet and kube-proxy first (they would restart what is killed), then everything else.
  await Promise.all(
    Object.entries(pids)
      .filter(([k]) => /\/(kubelet|kube-proxy)$/.test(k))
      .map(([, pid]) => stopProcess(pid, 3000)),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const left = processesIn(`/${names.cgroup}`);
    for (const [k, pid] of Object.entries(pids)) if (k.includes('/') && isAlive(pid) && !left.includes(pid)) left.push(pid);
    if (left.length === 0) break;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline)
      throw new ShimmyError(
        ErrorCode.DEV_CLUSTER,
        `processes ${left.join(', ')} of the dev cluster survived SIGKILL for 30 s`,
        'Check them with ps; they may be stuck in the kernel',
      );
    await sleep(100);
  }
  const leftovers: string[] = [];
  // A cgroup can be busy for a moment after its last process died.
  await waitFor('cgroups removed', async () => removeCgroup(`/${names.cgroup}`), 10_000).catch(() => leftovers.push(`cgroup /${names.cgroup}`));
  leftovers.push(...removeNetwork(clusterId, all));
  return leftovers;
}
