import { describe, expect, it } from 'vitest';
import { V1MicroTime, type V1Pod } from '@kubernetes/client-node';
import { AgentLeases } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import type { Placement, SharedMemoryChannel } from '../k8s/types.js';
import { filterNodes, prioritizeNodes, type PlacementView } from './placement.js';

const NODES = ['n1', 'n2', 'n3', 'n4'];

function view(placements: Record<string, Placement> = {}, nodes: readonly string[] = NODES): PlacementView & { now: { t: number } } {
  const now = { t: 1_000_000 };
  const channels = new ChannelDirectory();
  for (const [name, placement] of Object.entries(placements))
    channels.upsert({ metadata: { namespace: 'ns', name, uid: name }, spec: { selector: { matchLabels: { c: name } }, placement } });
  const agents = new AgentLeases(() => now.t);
  for (const n of nodes) agents.upsert(lease(n, now.t));
  return { channels, index: new PlacementIndex(() => now.t), agents, agentNamespace: 'shimmy-system', now };
}

const lease = (n: string, renewed: number) => ({
  metadata: { name: `agent.${n}` },
  spec: { holderIdentity: n, leaseDurationSeconds: 10, renewTime: new V1MicroTime(renewed) },
});

let seq = 0;
const pod = (channels: string, node?: string, namespace: string | null = 'ns'): V1Pod => ({
  metadata: {
    ...(namespace === null ? {} : { namespace }),
    name: `p${++seq}`,
    uid: `u${seq}`,
    annotations: channels ? { 'shimmy.dev/channels': channels } : {},
  },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
  status: { phase: 'Running' },
});

const counts = (v: PlacementView, id: string) => Object.fromEntries(v.index.nodesOf(id));
const homeOf = (channel: string, nodes: readonly string[]) =>
  prioritizeNodes(view({ [channel]: 'Prefer' }, nodes), pod(channel), nodes).find((s) => s.Score === 10)!.Host;

describe('filterNodes, edge cases', () => {
  it('passes every node for a pod without channels, even one whose agent is not ready, and assumes nothing', () => {
    const v = view();
    v.agents.upsert(lease('n2', v.now.t - 11_000));
    expect(filterNodes(v, pod(''), ['n2'])).toEqual({ passed: ['n2'], failed: {} });
    expect(v.index.channelIds()).toEqual([]);
  });

  it('reads a pod without metadata as a pod without channels', () => {
    expect(filterNodes(view(), { spec: { containers: [] } }, NODES)).toEqual({ passed: NODES, failed: {} });
  });

  it('treats a channel the directory does not know, or one without a spec, as placement Prefer', () => {
    const v = view();
    v.channels.upsert({ metadata: { namespace: 'ns', name: 'nospec', uid: 'x' } } as SharedMemoryChannel);
    v.index.upsertPod(pod('unknown,nospec', 'n3'));
    expect(filterNodes(v, pod('unknown'), NODES).passed).toEqual(NODES);
    expect(filterNodes(v, pod('nospec'), NODES).passed).toEqual(NODES);
  });

  it('does not split-check a Prefer channel, even when its pods run on a candidate', () => {
    const v = view({ a: 'Prefer' });
    v.index.upsertPod(pod('a', 'n3'));
    expect(filterNodes(v, pod('a'), NODES)).toEqual({ passed: NODES, failed: {} });
  });

  it('names at most three of the nodes a Require channel runs on', () => {
    const nodes = [...NODES, 'n5'];
    const v = view({ a: 'Require' }, nodes);
    for (const n of NODES) v.index.upsertPod(pod('a', n));
    const r = filterNodes(v, pod('a'), ['n1', 'n5']);
    expect(r.passed).toEqual(['n1']);
    expect(r.failed).toEqual({ n5: 'would split channel ns/a (placement: Require); its pods run on n1, n2, n3' });
  });

  it('assumes nothing while more than one node, or none, passes', () => {
    const v = view({ a: 'Prefer' });
    expect(filterNodes(v, pod('a'), NODES).passed).toEqual(NODES);
    expect(v.index.nodesOf('ns/a').size).toBe(0);
    v.now.t += 60_000;
    const r = filterNodes(v, pod('a'), NODES);
    expect(r.passed).toEqual([]);
    expect(r.failed.n1).toBe('shimmy agent not ready on n1 (no unexpired Lease with holderIdentity n1 in shimmy-system)');
    expect(v.index.channelIds()).toEqual([]);
  });
});

describe('prioritizeNodes, edge cases', () => {
  it('gives a pod without a namespace no channels (none can exist there): 0 everywhere, nothing assumed', () => {
    const v = view({ a: 'Prefer' });
    v.index.upsertPod(pod('a', 'n3'));
    expect(prioritizeNodes(v, pod('a', undefined, null), NODES).map((s) => s.Score)).toEqual([0, 0, 0, 0]);
    expect(counts(v, 'ns/a')).toEqual({ n3: 1 });
  });

  it("picks a new channel's home node regardless of the order the nodes are offered in", () => {
    const home = homeOf('a', NODES);
    expect(homeOf('a', [...NODES].reverse())).toBe(home);
    expect(homeOf('a', [NODES[2]!, NODES[0]!, NODES[3]!, NODES[1]!])).toBe(home);
  });

  it('breaks an exact hash tie in favour of the node offered first', () => {
    // These two names hash to the same weight for channel ns/a (found by search).
    const tied = ['w-mrw1ar', 'w-0tijgp'];
    expect(homeOf('a', tied)).toBe('w-mrw1ar');
    expect(homeOf('a', [...tied].reverse())).toBe('w-0tijgp');
  });

  it('spreads the home nodes of different channels over the nodes', () => {
    const homes = new Set(Array.from({ length: 16 }, (_, i) => homeOf(`c${i}`, NODES)));
    expect(homes.size).toBeGreaterThan(1);
  });

  it('returns no scores when no node is offered', () => {
    expect(prioritizeNodes(view({ a: 'Prefer' }), pod('a'), [])).toEqual([]);
  });

  it('assumes the pod on the best-scoring node, not the first or last with a score', () => {
    const v = view({ a: 'Prefer', b: 'Prefer' });
    v.index.upsertPod(pod('a', 'n1'));
    v.index.upsertPod(pod('a,b', 'n2'));
    v.index.upsertPod(pod('b', 'n3'));
    prioritizeNodes(v, pod('a,b'), NODES);
    expect(counts(v, 'ns/a')).toEqual({ n1: 1, n2: 2 });
    expect(counts(v, 'ns/b')).toEqual({ n2: 2, n3: 1 });
  });

  it('assumes the pod on the first of the nodes tied for the best score', () => {
    const v = view({ a: 'Prefer' });
    v.index.upsertPod(pod('a', 'n2'));
    v.index.upsertPod(pod('a', 'n3'));
    const scores = prioritizeNodes(v, pod('a'), NODES);
    expect(scores.map((s) => s.Score)).toEqual([0, 10, 10, 0]);
    expect(counts(v, 'ns/a')).toEqual({ n2: 2, n3: 1 });
  });

  it('assumes nothing when every score rounds down to 0', () => {
    // 21 channels, each with pods on its own node: every node holds 1/21 of them.
    const nodes = Array.from({ length: 21 }, (_, i) => `m${i}`);
    const names = nodes.map((_, i) => `c${i}`);
    const v = view({}, nodes);
    nodes.forEach((n, i) => v.index.upsertPod(pod(names[i]!, n)));
    const scores = prioritizeNodes(v, pod(names.join(',')), nodes);
    expect(scores.every((s) => s.Score === 0)).toBe(true);
    for (const [i, name] of names.entries()) expect(counts(v, `ns/${name}`)).toEqual({ [nodes[i]!]: 1 });
  });
});
