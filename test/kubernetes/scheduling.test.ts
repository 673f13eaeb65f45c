/**
 * The extender and the master against a real kube-scheduler (scheduler-config/
 * shimmy-scheduler.yaml) and a real API server, with four Node objects. Agent readiness
 * is set directly through the agents' Leases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { schedulerConfigFor } from '../../src/devcluster/cluster.js';
import { ensureKubeBinary } from '../../src/devcluster/go-tools.js';
import { startDetached, stopProcess } from '../../src/devcluster/processes.js';
import { freePort } from '../../src/free-port.js';
import { EXTENDER_CLIENT_SECRET, GROUP, VERSION, WEBHOOK_TLS_SECRET, type ChannelEndpoint } from '../../src/k8s/types.js';
import { coversHosts, createCA, issueClientCert, signedBy } from '../../src/webhook/certs.js';
import { callExtender } from '../helpers/extender.js';
import {
  createChannel,
  createNamespace,
  getChannel,
  pod,
  PIPELINE,
  setAgentReady,
  startCluster,
  waitScheduled,
  type ClusterFixture,
} from './cluster-fixture.js';
import { eventually } from '../helpers/wait.js';

let f: ClusterFixture;
const NODES = ['node-1', 'node-2', 'node-3', 'node-4'];
const PROBES = 'probes';

beforeAll(async () => {
  f = await startCluster({ nodes: 4, agents: false });
  for (const node of NODES) await setAgentReady(f, node, true);
  await f.startController();
  await createNamespace(f, PROBES, false);
});

afterAll(async () => {
  await f?.stop();
});

async function endpoints(namespace: string, channel: string): Promise<ChannelEndpoint[]> {
  const list = (await f.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'channelendpoints',
    fieldSelector: `spec.channel=${channel}`,
  })) as { items: ChannelEndpoint[] };
  return list.items.sort((a, b) => a.spec.node.localeCompare(b.spec.node));
}

const condition = async (namespace: string, name: string, type: string) =>
  (await getChannel(f, namespace, name)).status?.conditions?.find((c) => c.type === type);

async function setUnschedulable(node: string, unschedulable: boolean): Promise<void> {
  const n = await f.core.readNode({ name: node });
  n.spec = { ...n.spec, unschedulable };
  await f.core.replaceNode({ name: node, body: n });
}

/**
 * Returns once shimmy-scheduler's own cache has `node` cordoned: a probe pod pinned to the
 * node is refused as unschedulable. (A probe the scheduler still bound there is deleted
 * and another one sent.)
 */
async function untilSchedulerSeesCordon(node: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const name = `probe-${node}-${attempt}`;
    const body = pod(name, {}, { schedulerName: 'shimmy-scheduler', nodeSelector: { 'kubernetes.io/hostname': node } });
    await f.core.createNamespacedPod({ namespace: PROBES, body });
    const outcome = await eventually(`probe ${name} decided`, async () => {
      const p = await f.core.readNamespacedPod({ name, namespace: PROBES });
      if (p.spec?.nodeName) return 'bound';
      const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
      return scheduled?.status === 'False' && scheduled.reason === 'Unschedulable' ? 'refused' : undefined;
    });
    await f.core.deleteNamespacedPod({ name, namespace: PROBES, gracePeriodSeconds: 0 });
    if (outcome === 'refused') return;
  }
}

/**
 * Another kube-scheduler from scheduler-config/shimmy-scheduler.yaml, its profile named
 * `name` and its extender changed by `edit`; returns its pid (stopProcess it).
 */
async function startScheduler(name: string, edit: (extender: { weight: number; nodeCacheCapable: boolean }) => void): Promise<number> {
  const config = parse(schedulerConfigFor(f.state.kubeconfig, f.state.extenderUrl, f.state.extenderTls)) as {
    profiles: { schedulerName: string }[];
    extenders: { weight: number; nodeCacheCapable: boolean }[];
  };
  config.profiles[0]!.schedulerName = name;
  edit(config.extenders[0]!);
  const file = join(f.state.dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return startDetached(
    await ensureKubeBinary(),
    ['kube-scheduler', `--config=${file}`, '--bind-address=127.0.0.1', `--secure-port=${await freePort()}`],
    join(f.state.dir, 'logs', `${name}.log`),
  );
}

/** The sum of a metric's series as the extender's worker reports them (0 when it has none yet). */
async function extenderSeries(name: string): Promise<number> {
  const text = await f.controller!.extenderMetrics();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('scheduling with the Shimmy extender', () => {
  it('places the pipeline pods, created all at once, on one node; status and endpoints follow', async () => {
    await createNamespace(f, 'pipeline', true);
    await createChannel(f, 'pipeline', 'frames', { selector: { matchLabels: { pipeline: 'camera' } } });
    await Promise.all(PIPELINE.map((stage) => f.core.createNamespacedPod({ namespace: 'pipeline', body: pod(stage, { pipeline: 'camera', stage }) })));
    const placed = await waitScheduled(f, 'pipeline', PIPELINE);
    expect(new Set(placed.values()).size).toBe(1);
    const node = placed.get('camera')!;

    await eventually('channel status', async () => (await getChannel(f, 'pipeline', 'frames')).status?.pods === 5);
    const status = (await getChannel(f, 'pipeline', 'frames')).status!;
    expect(status).toMatchObject({ nodes: 1, endpoints: [{ node, pods: [...PIPELINE].sort() }] });
    expect(await condition('pipeline', 'frames', 'Ready')).toMatchObject({ status: 'True', reason: 'AgentsReady' });
    expect(await condition('pipeline', 'frames', 'Split')).toMatchObject({ status: 'False', reason: 'SingleNode' });
    const eps = await endpoints('pipeline', 'frames');
    expect(eps.map((e) => [e.spec.node, e.spec.pods.length, e.spec.peers])).toEqual([[node, 5, []]]);
    expect(eps[0]!.spec.key).toBe(status.key);
  });

  it('spreads the same pods over several nodes without the extender (the control case)', async () => {
    await createNamespace(f, 'control', false);
    await Promise.all(PIPELINE.map((stage) => f.core.createNamespacedPod({ namespace: 'control', body: pod(stage, { pipeline: 'camera', stage }) })));
    const placed = await waitScheduled(f, 'control', PIPELINE);
    expect(new Set(placed.values()).size).toBeGreaterThan(1);
  });

  it('never places a channel pod on a node whose agent is not ready', async () => {
    await createNamespace(f, 'agents', true);
    await createChannel(f, 'agents', 'telemetry', { selector: { matchLabels: { app: 'telemetry' } }, placement: 'None' });
    for (const node of ['node-1', 'node-2', 'node-4']) await setAgentReady(f, node, false);
    try {
      const names = ['t1', 't2', 't3', 't4'];
      for (const name of names) await f.core.createNamespacedPod({ namespace: 'agents', body: pod(name, { app: 'telemetry' }) });
      const placed = await waitScheduled(f, 'agents', names);
      expect([...new Set(placed.values())]).toEqual(['node-3']);
      // With no ready agent anywhere the pod stays pending, and says why.
      await setAgentReady(f, 'node-3', false);
      await f.core.createNamespacedPod({ namespace: 'agents', body: pod('stuck', { app: 'telemetry' }) });
      const events = await eventually('FailedScheduling event', async () => {
        const list = await f.core.listNamespacedEvent({ namespace: 'agents', fieldSelector: 'involvedObject.name=stuck,reason=FailedScheduling' });
        return list.items.length ? list.items : undefined;
      });
      expect(events[0]!.message).toContain('shimmy agent not ready');
      expect((await f.core.readNamespacedPod({ name: 'stuck', namespace: 'agents' })).spec!.nodeName).toBeUndefined();
    } finally {
      for (const node of NODES) await setAgentReady(f, node, true);
    }
    // The master reports the agents of its endpoints: all ready again.
    await eventually('Ready after agents return', async () => (await condition('agents', 'telemetry', 'Ready'))?.status === 'True');
  });

  it('Require: follows the channel while a co-located node fits, splits only when none does', async () => {
    await createNamespace(f, 'strict', true);
    await createChannel(f, 'strict', 'control', { selector: { matchLabels: { app: 'robot' } }, placement: 'Require' });
    await f.core.createNamespacedPod({ namespace: 'strict', body: pod('arm', { app: 'robot' }) });
    const home = (await waitScheduled(f, 'strict', ['arm'])).get('arm')!;

    await setUnschedulable(home, true);
    try {
      await untilSchedulerSeesCordon(home);
      // The only co-located node is cordoned: no co-located choice exists, so the pod goes elsewhere.
      await f.core.createNamespacedPod({ namespace: 'strict', body: pod('eye', { app: 'robot' }) });
      const away = (await waitScheduled(f, 'strict', ['eye'])).get('eye')!;
      expect(away).not.toBe(home);
      await eventually('Split condition', async () => (await condition('strict', 'control', 'Split'))?.status === 'True');
      const eps = await endpoints('strict', 'control');
      expect(eps.map((e) => [e.spec.node, e.spec.peers])).toEqual(
        [
          [home, [away]],
          [away, [home]],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );

      // Now two nodes run the channel: the next pods may go to either, never to a third.
      for (const name of ['hand', 'leg', 'ear']) await f.core.createNamespacedPod({ namespace: 'strict', body: pod(name, { app: 'robot' }) });
      const more = await waitScheduled(f, 'strict', ['hand', 'leg', 'ear']);
      for (const node of more.values()) expect([home, away]).toContain(node);
    } finally {
      await setUnschedulable(home, false);
    }
  });

  it("removes a node's endpoint when its last pod goes, and the Split condition with it", async () => {
    const pods = (await f.core.listNamespacedPod({ namespace: 'strict' })).items;
    const node = pods.find((p) => p.metadata!.name === 'eye')!.spec!.nodeName!;
    for (const p of pods.filter((p) => p.spec!.nodeName === node))
      await f.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: 'strict', gracePeriodSeconds: 0 });
    await eventually('endpoint removed', async () => {
      const eps = await endpoints('strict', 'control');
      return eps.length === 1 && eps[0]!.spec.node !== node && eps[0]!.spec.peers.length === 0;
    });
    await eventually('Split cleared', async () => (await condition('strict', 'control', 'Split'))?.status === 'False');
  });

  it("Require filters where Prefer only scores: a pod's own node preference beats a weak Prefer, never Require", async () => {
    // A scheduler whose extender weighs 1, not 10: its Prefer score (10 x 1 x 10 = 100) is then
    // less than a preferred node affinity of weight 100 (NodeAffinity's weight 2 x 100 = 200).
    const pid = await startScheduler('shimmy-weak', (extender) => (extender.weight = 1));
    try {
      await createNamespace(f, 'weigh', true);
      const placements = { held: 'Require', soft: 'Prefer' } as const;
      const result: Record<string, { home: string; other: string; second: string }> = {};
      for (const [app, placement] of Object.entries(placements)) {
        await createChannel(f, 'weigh', app, { selector: { matchLabels: { app } }, placement });
        await f.core.createNamespacedPod({ namespace: 'weigh', body: pod(`${app}-1`, { app }, { schedulerName: 'shimmy-weak' }) });
        const home = (await waitScheduled(f, 'weigh', [`${app}-1`])).get(`${app}-1`)!;
        const other = NODES.find((n) => n !== home)!;
        const affinity = {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 100, preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [other] }] } },
            ],
          },
        };
        await f.core.createNamespacedPod({ namespace: 'weigh', body: pod(`${app}-2`, { app }, { schedulerName: 'shimmy-weak', affinity }) });
        result[app] = { home, other, second: (await waitScheduled(f, 'weigh', [`${app}-2`])).get(`${app}-2`)! };
      }
      expect(result.held!.second).toBe(result.held!.home);
      expect(result.soft!.second).toBe(result.soft!.other);
    } finally {
      await stopProcess(pid);
    }
  });

  it('works with nodeCacheCapable: false too (the scheduler sends whole Node objects)', async () => {
    // A third scheduler, from the same file, with the extender receiving Nodes, not NodeNames.
    const pid = await startScheduler('shimmy-full-nodes', (extender) => (extender.nodeCacheCapable = false));
    try {
      await createNamespace(f, 'full', true);
      await createChannel(f, 'full', 'frames', { selector: { matchLabels: { app: 'full' } }, placement: 'None' });
      for (const node of ['node-1', 'node-3', 'node-4']) await setAgentReady(f, node, false);
      // An explicit schedulerName other than the default is kept by the webhook.
      for (const name of ['a', 'b'])
        await f.core.createNamespacedPod({ namespace: 'full', body: pod(name, { app: 'full' }, { schedulerName: 'shimmy-full-nodes' }) });
      const placed = await waitScheduled(f, 'full', ['a', 'b']);
      expect([...new Set(placed.values())]).toEqual(['node-2']);
      // The extender understood the Nodes form (an ignorable extender that failed would be skipped).
      expect(await extenderSeries('shimmy_extender_bad_requests_total')).toBe(0);
    } finally {
      for (const node of NODES) await setAgentReady(f, node, true);
      await stopProcess(pid);
    }
  });

  it("answers only callers with a client certificate from the controller's CA, which keeps the scheduler's in a Secret", async () => {
    const secretData = async (name: string) =>
      Object.fromEntries(
        Object.entries((await f.core.readNamespacedSecret({ name, namespace: f.state.namespace })).data ?? {}).map(([k, v]) => [
          k,
          Buffer.from(v, 'base64').toString(),
        ]),
      );
    const ca = await secretData(WEBHOOK_TLS_SECRET);
    // The serving certificate names the extender's Service too.
    expect(
      coversHosts(ca['tls.crt']!, [`shimmy-extender.${f.state.namespace}.svc`, `shimmy-extender.${f.state.namespace}.svc.cluster.local`, '127.0.0.1']),
    ).toBe(true);
    const client = await eventually('the extender client Secret', async () => {
      const data = await secretData(EXTENDER_CLIENT_SECRET).catch(() => undefined);
      return data?.['tls.crt'] ? data : undefined;
    });
    expect(signedBy(client['tls.crt']!, ca['ca.crt']!)).toBe(true);
    expect(client['ca.crt']).toContain(ca['ca.crt']!.trim());

    const port = f.state.ports.extender;
    const args = { Pod: { metadata: { name: 'p', namespace: 'probes' } }, NodeNames: NODES };
    const refusedBefore = await extenderSeries('shimmy_extender_tls_refused_total');
    const answered = await callExtender(port, 'prioritize', args, { cert: client['tls.crt']!, key: client['tls.key']!, ca: client['ca.crt']! });
    expect(answered.status).toBe(200);
    expect(answered.body).toHaveLength(NODES.length);
    const stranger = issueClientCert(createCA('not-shimmy', 3_600_000), 'shimmy-scheduler', [], 3_600_000);
    await expect(callExtender(port, 'prioritize', args, { ca: client['ca.crt']! })).rejects.toThrow();
    await expect(callExtender(port, 'filter', args, { ...stranger, ca: client['ca.crt']! })).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${port}/filter`, { method: 'POST', body: JSON.stringify(args), signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    expect(await extenderSeries('shimmy_extender_tls_refused_total')).toBeGreaterThanOrEqual(refusedBefore + 3);
  });
});
