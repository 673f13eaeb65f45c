import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/helpers/wait.js';
import type { CustomObjectsApi, ObjectCache, V1Lease, V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { AgentLeases, agentLeaseName } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import type { ChannelEndpoint, SharedMemoryChannel } from '../k8s/types.js';
import { desiredEndpoints } from './channel-state.js';
import { Master } from './master.js';
import { ControllerMetrics } from '../metrics/controller-metrics.js';

const channel: SharedMemoryChannel = {
  metadata: { namespace: 'strict', name: 'control', uid: 'u1', generation: 1 },
  spec: { selector: { matchLabels: { app: 'robot' } }, placement: 'Require' },
};
const pod = (name: string, node: string): V1Pod => ({
  metadata: { name, namespace: 'strict', annotations: { 'shimmy.dev/channels': 'control' } },
  spec: { containers: [], nodeName: node },
  status: { phase: 'Running' },
});
const lease = (node: string): V1Lease => ({
  metadata: { name: agentLeaseName(node), namespace: 'shimmy-system', labels: { 'shimmy.dev/component': 'agent' } },
  spec: { holderIdentity: node, renewTime: new Date(), leaseDurationSeconds: 60 },
});

function cache<T extends { metadata?: { namespace?: string; name?: string } }>(items: T[]): ObjectCache<T> {
  return {
    get: (name: string, namespace?: string) => items.find((i) => i.metadata?.name === name && (!namespace || i.metadata?.namespace === namespace)),
    list: (namespace?: string) => items.filter((i) => !namespace || i.metadata?.namespace === namespace),
  };
}

/** A CustomObjectsApi that records the master's writes in order; `failCreate` makes creates fail. */
function recordingApi(failCreate = false) {
  const calls: string[] = [];
  const api = {
    createNamespacedCustomObject: async ({ body }: { body: ChannelEndpoint }) => {
      calls.push(`create ${body.metadata.name}`);
      if (failCreate) throw Object.assign(new Error('etcd timeout'), { code: 500 });
      return body;
    },
    replaceNamespacedCustomObject: async ({ name }: { name: string }) => void calls.push(`replace ${name}`),
    deleteNamespacedCustomObject: async ({ name }: { name: string }) => void calls.push(`delete ${name}`),
    patchNamespacedCustomObjectStatus: async ({ name }: { name: string }) => void calls.push(`status ${name}`),
  };
  return { calls, api: api as unknown as CustomObjectsApi };
}

async function syncOnce(custom: CustomObjectsApi, pods: V1Pod[], endpoints: ChannelEndpoint[]): Promise<void> {
  const channels = new ChannelDirectory();
  channels.upsert(channel);
  const agents = new AgentLeases();
  for (const node of ['node-2', 'node-3']) agents.upsert(lease(node));
  const metrics = new ControllerMetrics(false);
  const master = new Master({
    custom,
    channels,
    pods: cache(pods),
    endpoints: cache(endpoints),
    agents,
    metrics,
    log: pino({ level: 'silent' }),
    debounceMs: 0,
  });
  master.start();
  // A pass ends by counting the channels, failed or not.
  await eventually('one master pass', async () => (await metrics.channels.get()).values[0]?.value === 1);
  await master.stop();
}

describe('master', () => {
  // The channel ran on node-2 only; a pod has just been bound to node-3.
  const before = desiredEndpoints(channel, new Map([['node-2', ['arm']]]));
  const pods = [pod('arm', 'node-2'), pod('eye', 'node-3')];

  it("writes a channel's endpoints before its status, so a reader of Split=True finds both", async () => {
    const { calls, api } = recordingApi();
    await syncOnce(api, pods, before);
    expect(calls).toEqual(['replace control.node-2', 'create control.node-3', 'status control']);
  });

  describe('a node whose pods left while its agent holds frames a peer has not acknowledged', () => {
    // The channel ran on node-2 and node-3; node-3's pods have left.
    const both = desiredEndpoints(
      channel,
      new Map([
        ['node-2', ['arm']],
        ['node-3', ['eye']],
      ]),
    );
    const owing = (unacknowledged: number, link: 'Connected' | 'Dropped' = 'Connected') =>
      both.map((e) =>
        e.spec.node !== 'node-3'
          ? e
          : {
              ...e,
              status: {
                segment: 'Ready' as const,
                updatedAt: new Date().toISOString(),
                replication: [{ node: 'node-2', link, forwarded: 10, landed: 0, resent: 0, repeats: 0, reconnects: 0, unacknowledged }],
              },
            },
      );

    it("keeps its endpoint (with no pods) and the peer's, so a restarted agent on the peer still takes them", async () => {
      const { calls, api } = recordingApi();
      await syncOnce(api, [pod('arm', 'node-2')], owing(3));
      expect(calls).toEqual(['replace control.node-3', 'status control']);
    });

    it('lets it go once they are acknowledged, or the peer was dropped', async () => {
      for (const endpoints of [owing(0), owing(3, 'Dropped')]) {
        const { calls, api } = recordingApi();
        await syncOnce(api, [pod('arm', 'node-2')], endpoints);
        expect(calls).toEqual(['replace control.node-2', 'delete control.node-3', 'status control']);
      }
    });
  });

  it('leaves the status alone when an endpoint write fails', async () => {
    const { calls, api } = recordingApi(true);
    await syncOnce(api, pods, before);
    expect(calls).toEqual(['replace control.node-2', 'create control.node-3']);
  });
});
