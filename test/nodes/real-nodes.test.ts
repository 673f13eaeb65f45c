/**
 * `shimmy dev-cluster` with real nodes: kubelets, containerd and runc per node, each node a
 * host of its own. Pods run the shimmy image; the webhook patches them, the extender places
 * them, and the channel carries their traffic through the node's System V shared memory.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostNames, nodeIp } from '../../src/devcluster/addresses.js';
import { hierarchies } from '../../src/devcluster/cgroups.js';
import { ensureGoTools } from '../../src/devcluster/go-tools.js';
import { channelKey } from '../../src/channel/names.js';
import { run } from '../helpers/proc.js';
import { eventually } from '../helpers/wait.js';
import {
  channelOf,
  downRealCluster,
  injectedNamespace,
  logs,
  nodeOf,
  podPhase,
  readyChannel,
  shimmyPod,
  upRealCluster,
  verifySummary,
  waitRunning,
  waitSucceeded,
  type NodesCluster,
} from './nodes-fixture.js';

let c: NodesCluster;
let down = false;

beforeAll(async () => {
  c = await upRealCluster(2);
}, 900_000);

afterAll(async () => {
  if (c && !down) await downRealCluster(c);
});

describe('real nodes', () => {
  it('become Ready through their own kubelets, each at its own address', async () => {
    expect(c.upOutput).toMatch(/node-1 Ready \(\d+\.\d s after the kubelets started\)/);
    const nodes = (await c.core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(['node-1', 'node-2']);
    for (const n of nodes) {
      const index = Number(n.metadata!.name!.split('-')[1]);
      expect(n.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.\d+\.\d+$/);
      expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
      expect(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toBe(nodeIp(index));
      expect(n.spec?.taints ?? []).toEqual([]);
    }
  });

  it('runs the pipeline as pods: patched, placed on one node, every message delivered in order', async () => {
    const ns = 'pipeline';
    const count = 20_000;
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'frames', { selector: { matchLabels: { pipeline: 'camera' } }, capacity: '4Mi', memory: 'HostIPC' });
    const labels = (stage: string) => ({ pipeline: 'camera', stage });
    const subs = ['metadata', 'detect', 'blur'];
    for (const s of subs)
      await c.core.createNamespacedPod({
        namespace: ns,
        body: shimmyPod(s, labels(s), ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet']),
      });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: shimmyPod('camera', labels('camera'), [
        'pub',
        'frames',
        '--count',
        String(count),
        '--size',
        '256',
        '--seq',
        '--wait-subscribers',
        String(subs.length),
        '--timeout',
        '120s',
      ]),
    });
    await waitSucceeded(c, ns, ['camera', ...subs]);

    const placed = new Set(await Promise.all(['camera', ...subs].map((p) => nodeOf(c, ns, p))));
    expect(placed.size).toBe(1);
    const camera = await c.core.readNamespacedPod({ name: 'camera', namespace: ns });
    expect(camera.spec?.hostIPC).toBe(true);
    expect(camera.spec?.schedulerName).toBe('shimmy-scheduler');
    expect(camera.spec?.containers[0]?.env?.find((e) => e.name === 'SHIMMY_CHANNELS')?.value).toBe('frames');
    for (const s of subs) {
      const got = verifySummary(await logs(c, ns, s));
      expect(got, s).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0, lost: 0 });
    }
  });

  it("keeps System V segments per node: a hostIPC pod on node-2 never sees node-1's", async () => {
    const ns = 'isolation';
    await c.core.createNamespace({ body: { metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
    await eventually('ServiceAccount isolation/default', async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns })), 60_000);
    const owner = shimmyPod('owner', {}, [], { nodeName: 'node-1', hostIPC: true });
    // It stays attached (a subscriber), so node-1's agent keeps the segment it did not make.
    owner.spec!.containers[0]!.command = ['sh', '-c', 'shimmy channel create secret --namespace isolation && exec shimmy sub secret --namespace isolation'];
    await c.core.createNamespacedPod({ namespace: ns, body: owner });
    await waitRunning(c, ns, ['owner']);
    await eventually('owner created its channel', async () => (await logs(c, ns, 'owner')).includes('channel isolation/secret ready'), 30_000);

    const lister = (name: string, node: string, hostIPC: boolean) => shimmyPod(name, {}, ['channel', 'ls', '--json'], { nodeName: node, hostIPC });
    await c.core.createNamespacedPod({ namespace: ns, body: lister('same-node', 'node-1', true) });
    await c.core.createNamespacedPod({ namespace: ns, body: lister('other-node', 'node-2', true) });
    await c.core.createNamespacedPod({ namespace: ns, body: lister('no-host-ipc', 'node-1', false) });
    await waitSucceeded(c, ns, ['same-node', 'other-node', 'no-host-ipc']);
    const names = async (pod: string) =>
      (JSON.parse(await logs(c, ns, pod)) as Array<{ namespace: string; name: string }>).map((s) => `${s.namespace}/${s.name}`);
    expect(await names('same-node')).toContain('isolation/secret');
    expect(await names('other-node')).not.toContain('isolation/secret');
    expect(await names('no-host-ipc')).toEqual([]);
    await c.core.deleteNamespacedPod({ name: 'owner', namespace: ns, gracePeriodSeconds: 0 });
  });

  it('keeps serving the other subscribers when one subscriber pod is force-deleted mid-stream', async () => {
    const ns = 'force-delete';
    const count = 60_000;
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'frames', { selector: { matchLabels: { app: 'fd' } }, capacity: '1Mi', maxMessageSize: '64Ki', slowConsumer: 'Block' });
    const subs = ['sub-a', 'sub-b', 'sub-gone'];
    for (const s of subs)
      await c.core.createNamespacedPod({
        namespace: ns,
        body: shimmyPod(s, { app: 'fd' }, ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet']),
      });
    // 60,000 messages at 10,000/s: six seconds of traffic to cut into.
    await c.core.createNamespacedPod({
      namespace: ns,
      body: shimmyPod('pub', { app: 'fd' }, [
        'pub',
        'frames',
        '--count',
        String(count),
        '--size',
        '64',
        '--seq',
        '--rate',
        '10000',
        '--wait-subscribers',
        '3',
        '--timeout',
        '120s',
      ]),
    });
    await waitRunning(c, ns, ['pub', ...subs]);
    // Mid-stream: once the agent reports traffic (every 2 s), while the publisher still runs.
    await eventually('traffic on the channel', async () => ((await channelOf(c, ns, 'frames')).status?.traffic?.messages ?? 0) > 0, 60_000, 200);
    await c.core.deleteNamespacedPod({ name: 'sub-gone', namespace: ns, gracePeriodSeconds: 0 });
    expect(await podPhase(c, ns, 'pub')).toBe('Running');
    await waitSucceeded(c, ns, ['pub', 'sub-a', 'sub-b']);
    for (const s of ['sub-a', 'sub-b']) expect(verifySummary(await logs(c, ns, s)), s).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
  });

  it('loads an image archive into every node with `dev-cluster load`', async () => {
    const tools = await ensureGoTools('node');
    const work = join(c.dir, 'tiny');
    execFileSync('mkdir', ['-p', `${work}/root/bin`]);
    execFileSync('cp', ['/bin/busybox', `${work}/root/bin/busybox`]);
    execFileSync('tar', ['-C', `${work}/root`, '--numeric-owner', '--owner=0', '--group=0', '-cf', `${work}/layer.tar`, '.']);
    execFileSync(join(tools, 'oci-image'), [
      '--layer',
      `${work}/layer.tar`,
      '--tag',
      'localhost/tiny:1',
      '--out',
      `${work}/tiny.tar`,
      '--entrypoint',
      '/bin/busybox',
      '--entrypoint',
      'echo',
      '--entrypoint',
      'hello from tiny',
    ]);
    const load = await run(['dev-cluster', 'load', `${work}/tiny.tar`, '--dir', c.dir]);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toContain('node-1, node-2');
    const ns = 'default';
    for (const node of ['node-1', 'node-2']) {
      await c.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `tiny-${node}` },
          spec: { nodeName: node, restartPolicy: 'Never', containers: [{ name: 'main', image: 'localhost/tiny:1', imagePullPolicy: 'Never' }] },
        },
      });
    }
    await waitSucceeded(c, ns, ['tiny-node-1', 'tiny-node-2']);
    for (const node of ['node-1', 'node-2']) expect((await logs(c, ns, `tiny-${node}`)).trim()).toBe('hello from tiny');
  });

  it('`down` leaves no process, mount, namespace, veth, bridge, cgroup, iptables rule or segment', async () => {
    const { clusterId, pids, dir } = c.state;
    const names = hostNames(clusterId);
    const result = await downRealCluster(c);
    down = true;
    expect(result.code, result.stderr).toBe(0);
    const alive = Object.entries(pids).filter(([, pid]) => existsSync(`/proc/${pid}`));
    expect(alive).toEqual([]);
    const leftoverProcs = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false;
        }
      });
    expect(leftoverProcs).toEqual([]);
    expect(
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.includes(dir) || l.includes(`shimmy-${clusterId}`)),
    ).toEqual([]);
    expect(existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`shimmy-${clusterId}`)) : []).toEqual([]);
    expect(readdirSync('/sys/class/net').filter((n) => n === names.bridge || n.startsWith(`shm${clusterId}`))).toEqual([]);
    expect(hierarchies().filter((h) => existsSync(join(h, names.cgroup)))).toEqual([]);
    expect(execFileSync('iptables-save', { encoding: 'utf8' })).not.toMatch(/KUBE-|10\.214\./);
    // Segments lived in the nodes' IPC namespaces, which are gone; the host's has none of them.
    const hostKeys = readFileSync('/proc/sysvipc/shm', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(hostKeys).not.toContain(channelKey({ namespace: 'isolation', name: 'secret' }));
    expect(existsSync(c.dir)).toBe(false);
  });
});
