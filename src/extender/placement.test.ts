import { describe, expect, it } from 'vitest';
import { V1MicroTime, type V1Pod } from '@kubernetes/client-node';
import { AgentLeases } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import type { Placement } from '../k8s/types.js';
import { filterNodes, prioritizeNodes, type PlacementView } from './placement.js';

const NODES = ['n1', 'n2', 'n3', 'n4'];

function view(placements: Record<string, Placement> = {}): PlacementView & { now: { t: number } } {
  const now = { t: 1_000_000 };
  const channels = new ChannelDirectory();
  for (const [name, placement] of Object.entries(placements))
    channels.upsert({ metadata: { namespace: 'ns', name, uid: name }, spec: { selector: { matchLabels: { c: name } }, placement } });
  const agents = new AgentLeases(() => now.t);
  for (const n of NODES)
    agents.upsert({ metadata: { name: `agent.${n}` }, spec: { holderIdentity: n, leaseDurationSeconds: 30, renewTime: new V1MicroTime(now.t) } });
  return { channels, index: new PlacementIndex(() => now.t), agents, agentNamespace: 'shimmy-system', now };
}

let seq = 0;
const pod = (channels: string, node?: string): V1Pod => ({
  metadata: { namespace: 'ns', name: `p${++seq}`, uid: `u${seq}`, annotations: channels ? { 'shimmy.dev/channels': channels } : {} },
  spec: { containers: [], ...(node ? { nodeName: node } : {}) },
  status: { phase: 'Running' },
});

describe('filterNodes', () => {
  it('passes every node for a pod without channels', () => {
    expect(filterNodes(view(), pod(''), NODES)).toEqual({ passed: NODES, failed: {} });
  });

  it('drops nodes whose agent lease has expired, saying why', () => {
    const v = view({ a: 'Prefer' });
    v.agents.upsert({ metadata: { name: 'agent.n2' }, spec: { holderIdentity: 'n2', leaseDurationSeconds: 10, renewTime: new V1MicroTime(v.now.t - 11_000) } });
    const r = filterNodes(v, pod('a'), NODES);
    expect(r.passed).toEqual(['n1', 'n3', 'n4']);
    expect(r.failed.n2).toMatch(/shimmy agent not ready on n2/);
  });

  it('Require keeps only co-located nodes while one is a candidate, and all nodes otherwise', () => {
    const v = view({ a: 'Require', b: 'Prefer' });
    v.index.upsertPod(pod('a', 'n3'));
    const r = filterNodes(v, pod('a'), NODES);
    expect(r.passed).toEqual(['n3']);
    expect(r.failed.n1).toMatch(/would split channel ns\/a \(placement: Require\); its pods run on n3/);
    expect(filterNodes(v, pod('a'), ['n1', 'n2']).passed).toEqual(['n1', 'n2']);
    expect(filterNodes(v, pod('b'), NODES).passed).toEqual(NODES);
  });

  it('remembers the node when only one passes, since kube-scheduler then skips prioritize', () => {
    const home = prioritizeNodes(view({ a: 'Prefer' }), pod('a'), NODES).find((s) => s.Score === 10)!.Host;
    const only = NODES.find((n) => n !== home)!;
    const others = NODES.filter((n) => n !== only);
    const v = view({ a: 'Prefer' });
    const lease = (n: string, renewed: number) => ({
      metadata: { name: `agent.${n}` },
      spec: { holderIdentity: n, leaseDurationSeconds: 10, renewTime: new V1MicroTime(renewed) },
    });
    for (const n of others) v.agents.upsert(lease(n, v.now.t - 11_000));
    expect(filterNodes(v, pod('a'), NODES).passed).toEqual([only]);
    // The agents come back before the first pod's binding is seen: the next pod joins it,
    // not the channel's home node.
    for (const n of others) v.agents.upsert(lease(n, v.now.t));
    const scores = prioritizeNodes(v, pod('a'), NODES);
    expect(scores.filter((s) => s.Score > 0)).toEqual([{ Host: only, Score: 10 }]);
  });
});

describe('prioritizeNodes', () => {
  it("scores by the share of the pod's channels already on each node", () => {
    const v = view({ a: 'Prefer', b: 'Prefer' });
    v.index.upsertPod(pod('a', 'n1'));
    v.index.upsertPod(pod('a,b', 'n2'));
    v.index.upsertPod(pod('b', 'n3'));
    const scores = Object.fromEntries(prioritizeNodes(v, pod('a,b'), NODES).map((s) => [s.Host, s.Score]));
    expect(scores).toEqual({ n1: 5, n2: 10, n3: 5, n4: 0 });
  });

  it('gives a new channel one home node, so concurrent first pods converge, and remembers the choice', () => {
    const v = view({ a: 'Prefer' });
    const first = prioritizeNodes(v, pod('a'), NODES);
    const home = first.find((s) => s.Score === 10)!.Host;
    expect(first.filter((s) => s.Score > 0)).toHaveLength(1);
    // The first pod is not bound yet; the second pod still goes to the same node,
    // even if that node is now offered in a different order.
    const second = prioritizeNodes(v, pod('a'), [...NODES].reverse());
    expect(second.find((s) => s.Score === 10)!.Host).toBe(home);
    expect(v.index.nodesOf('ns/a').get(home)).toBe(2);
  });

  it('forgets an assumption when the pod is bound elsewhere or the assumption expires', () => {
    const v = view({ a: 'Prefer' });
    const p = pod('a');
    const home = prioritizeNodes(v, p, NODES).find((s) => s.Score === 10)!.Host;
    const other = NODES.find((n) => n !== home)!;
    v.index.upsertPod({ ...p, spec: { ...p.spec!, nodeName: other } });
    expect([...v.index.nodesOf('ns/a')]).toEqual([[other, 1]]);
    const q = pod('a');
    prioritizeNodes(v, q, [home]);
    expect(v.index.nodesOf('ns/a').get(home)).toBe(1);
    v.now.t += 31_000;
    v.index.expireAssumptions();
    expect(v.index.nodesOf('ns/a').get(home)).toBeUndefined();
  });

  it('ignores channels with placement None', () => {
    const v = view({ a: 'None' });
    v.index.upsertPod(pod('a', 'n1'));
    expect(prioritizeNodes(v, pod('a'), NODES).every((s) => s.Score === 0)).toBe(true);
  });
});
