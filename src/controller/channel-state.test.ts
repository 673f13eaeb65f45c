import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { SharedMemoryChannel } from '../k8s/types.js';
import {
  carryTransitionTimes,
  desiredEndpoints,
  desiredStatus,
  endpointName,
  placementsByChannel,
  rollUpTraffic,
  sameStatus,
  withUndelivered,
} from './channel-state.js';

const channel: SharedMemoryChannel = {
  metadata: { namespace: 'ns', name: 'frames', uid: 'u1', generation: 3 },
  spec: { selector: { matchLabels: { a: 'b' } }, capacity: '8Mi', mode: 'Stream' },
};
const pod = (name: string, node: string | undefined, channels: string, phase = 'Running', deleting = false): V1Pod => ({
  metadata: { name, namespace: 'ns', annotations: { 'shimmy.dev/channels': channels }, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
  status: { phase },
});

describe('channel state', () => {
  const pods = [
    pod('b', 'n2', 'frames'),
    pod('a', 'n1', 'frames,other'),
    pod('c', 'n2', 'frames'),
    pod('pending', undefined, 'frames'),
    pod('done', 'n3', 'frames', 'Succeeded'),
    pod('going', 'n3', 'frames', 'Running', true),
  ];

  it('groups bound, live pods by channel and node', () => {
    const byChannel = placementsByChannel(pods);
    expect([...byChannel.get('frames')!]).toEqual([
      ['n2', ['b', 'c']],
      ['n1', ['a']],
    ]);
    expect([...byChannel.get('other')!]).toEqual([['n1', ['a']]]);
  });

  it('reports Ready and Split from endpoints and agents', () => {
    const placement = placementsByChannel(pods).get('frames')!;
    const pubsub = { ...channel, spec: { ...channel.spec, mode: 'PubSub' as const } };
    const status = desiredStatus({ channel: pubsub, placement, problem: undefined, agentReady: (n) => n !== 'n2' });
    expect(status).toMatchObject({
      observedGeneration: 3,
      pods: 3,
      nodes: 2,
      endpoints: [
        { node: 'n1', pods: ['a'] },
        { node: 'n2', pods: ['b', 'c'] },
      ],
    });
    expect(status.key).toMatch(/^0x[0-9a-f]{8}$/);
    expect(status.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'AgentNotReady'],
      ['Split', 'True', 'MultipleNodes'],
    ]);
    expect(status.conditions![1]!.message).toBe('endpoints on n1, n2; the agents replicate it between the nodes');
    const peer = (node: string, link: 'Connected' | 'Dropped') => ({ node, link, forwarded: 0, landed: 0, resent: 0, repeats: 0, reconnects: 0 });
    const reports = [
      { segment: 'Ready' as const, updatedAt: '', replication: [peer('n2', 'Connected')] },
      { segment: 'Ready' as const, updatedAt: '', replication: [peer('n1', 'Dropped')] },
    ];
    expect(desiredStatus({ channel: pubsub, placement, problem: undefined, agentReady: () => true, reports }).conditions![1]!.message).toBe(
      'endpoints on n1, n2; the agents replicate it between the nodes; links not connected: n1 Dropped',
    );
    // Streams are replicated too.
    expect(desiredStatus({ channel, placement, problem: undefined, agentReady: () => true }).conditions![1]!.message).toBe(
      'endpoints on n1, n2; the agents replicate it between the nodes',
    );
    const empty = desiredStatus({ channel, placement: new Map(), problem: undefined, agentReady: () => true });
    expect(empty.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'NoEndpoints'],
      ['Split', 'False', 'NoEndpoints'],
    ]);
    const bad = desiredStatus({ channel, placement: new Map(), problem: 'selector is empty', agentReady: () => true });
    expect(bad.conditions![0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'selector is empty' });
  });

  it('keeps transition times of unchanged conditions, so a resync writes nothing', () => {
    const placement = placementsByChannel(pods).get('frames')!;
    const first = desiredStatus({ channel, placement, problem: undefined, agentReady: () => true });
    first.conditions![0]!.lastTransitionTime = new Date(0);
    const again = desiredStatus({ channel, placement, problem: undefined, agentReady: () => true });
    carryTransitionTimes(first, again);
    expect(again.conditions![0]!.lastTransitionTime).toEqual(new Date(0));
    expect(sameStatus(first, again)).toBe(true);
  });

  it('makes one ChannelEndpoint per node with the other nodes as peers', () => {
    const eps = desiredEndpoints(channel, placementsByChannel(pods).get('frames')!);
    expect(eps.map((e) => [e.metadata.name, e.spec.node, e.spec.pods, e.spec.peers])).toEqual([
      ['frames.n1', 'n1', ['a'], ['n2']],
      ['frames.n2', 'n2', ['b', 'c'], ['n1']],
    ]);
    expect(eps[0]!.spec).toMatchObject({ mode: 'Stream', capacity: 8 * 2 ** 20, channelUID: 'u1' });
    expect(eps[0]!.metadata.ownerReferences![0]).toMatchObject({ kind: 'SharedMemoryChannel', uid: 'u1' });
    expect(endpointName('frames', 'x'.repeat(250))).toMatch(/^frames\.[0-9a-f]+$/);
  });
});

describe('rollUpTraffic', () => {
  it("sums the nodes' reports, takes the largest lag, and is absent before any agent reports", () => {
    expect(rollUpTraffic([])).toBeUndefined();
    const node1 = { segment: 'Ready' as const, updatedAt: '', publishers: 1, subscribers: 2, messages: 100, lag: 7, lost: 0 };
    const node2 = { segment: 'Ready' as const, updatedAt: '', publishers: 0, subscribers: 3, messages: 40, lag: 12, lost: 5 };
    expect(rollUpTraffic([node1, node2])).toEqual({ publishers: 1, subscribers: 5, messages: 140, lag: 12, lost: 5 });
    // A node whose segment is still missing reports no counts: it adds nothing.
    expect(rollUpTraffic([node1, { segment: 'Missing', updatedAt: '' }])).toEqual({ publishers: 1, subscribers: 2, messages: 100, lag: 7, lost: 0 });
  });

  it('puts the roll-up into the desired status', () => {
    const s = desiredStatus({
      channel,
      placement: new Map([['n1', ['p']]]),
      problem: undefined,
      agentReady: () => true,
      reports: [{ segment: 'Ready', updatedAt: '', subscribers: 4, messages: 9 }],
    });
    expect(s.traffic).toEqual({ publishers: 0, subscribers: 4, messages: 9, lag: 0, lost: 0 });
  });
});

describe('withUndelivered', () => {
  const channel: SharedMemoryChannel = { metadata: { namespace: 'ns', name: 'c', uid: 'u' }, spec: { selector: { matchLabels: { app: 'a' } } } };
  const [, gone] = desiredEndpoints(
    channel,
    new Map([
      ['n1', ['p1']],
      ['n2', ['p2']],
    ]),
  );
  gone!.status = {
    segment: 'Ready',
    updatedAt: '',
    replication: [{ node: 'n1', link: 'Connecting', forwarded: 5, landed: 0, resent: 0, repeats: 0, reconnects: 1, unacknowledged: 2 }],
  };
  const placement = new Map([['n1', ['p1']]]);

  it('adds a node without pods that owes a node of the placement frames, while its agent is ready', () => {
    expect([...withUndelivered(placement, [gone!], () => true)]).toEqual([
      ['n1', ['p1']],
      ['n2', []],
    ]);
    expect(withUndelivered(placement, [gone!], () => false)).toBe(placement);
    // Owed to a node that is no longer in the placement either: nobody to deliver to.
    expect(withUndelivered(new Map([['n3', ['p3']]]), [gone!], () => true).has('n2')).toBe(false);
  });
});
