import { describe, expect, it } from 'vitest';
import { V1MicroTime, type V1Pod } from '@kubernetes/client-node';
import { AgentLeases } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { filterNodes, MAX_CHANNELS_PER_POD, prioritizeNodes, type PlacementView } from './placement.js';
import { MAX_NODE_NAMES, parseExtenderArgs } from './wire.js';

// Issue 10: one /prioritize naming 300 invented channels and 5,000 nodes held the
// controller's event loop for 2.1 s and planted placement assumptions.

const NODES = Array.from({ length: 50 }, (_, i) => `node-${i}`);

function view(channels: readonly string[]): PlacementView {
  const directory = new ChannelDirectory();
  for (const name of channels) directory.upsert({ metadata: { namespace: 'ns', name, uid: name }, spec: { selector: { matchLabels: { c: name } } } });
  const agents = new AgentLeases(() => 1_000_000);
  for (const n of NODES)
    agents.upsert({ metadata: { name: `agent.${n}` }, spec: { holderIdentity: n, leaseDurationSeconds: 10, renewTime: new V1MicroTime(1_000_000) } });
  return { channels: directory, index: new PlacementIndex(() => 1_000_000), agents, agentNamespace: 'shimmy-system' };
}

const pod = (channels: readonly string[]): V1Pod => ({
  metadata: { namespace: 'ns', name: 'p', uid: 'u', annotations: { 'shimmy.dev/channels': channels.join(',') } },
  spec: { containers: [] },
});

describe('the extender under hostile requests', () => {
  it('counts only channels that exist: invented names score like no channel and assume nothing', () => {
    const v = view(['real']);
    const invented = Array.from({ length: 300 }, (_, i) => `invented-${i}`);
    expect(prioritizeNodes(v, pod(invented), NODES).every((s) => s.Score === 0)).toBe(true);
    expect(filterNodes(v, pod(invented), NODES).passed).toEqual(NODES);
    expect(v.index.channelIds()).toEqual([]);
    // Next to a real channel, the invented ones neither dilute its score nor cost a pass each.
    const scores = prioritizeNodes(v, pod(['real', ...invented]), NODES);
    expect(scores.filter((s) => s.Score === 10)).toHaveLength(1);
    expect(v.index.channelIds()).toEqual(['ns/real']);
  });

  it('counts a channel named twice once', () => {
    const v = view(['a', 'b']);
    v.index.upsertPod({ ...pod(['a']), metadata: { ...pod(['a']).metadata, name: 'pa', uid: 'ua' }, spec: { containers: [], nodeName: 'node-1' } });
    v.index.upsertPod({ ...pod(['b']), metadata: { ...pod(['b']).metadata, name: 'pb', uid: 'ub' }, spec: { containers: [], nodeName: 'node-2' } });
    const scores = Object.fromEntries(prioritizeNodes(v, pod(['a', 'a', 'a', 'b']), NODES).map((s) => [s.Host, s.Score]));
    expect([scores['node-1'], scores['node-2']]).toEqual([5, 5]);
  });

  it(`refuses a pod on more than ${MAX_CHANNELS_PER_POD} existing channels with BAD_EXTENDER_ARGS, and takes exactly that many`, () => {
    const names = Array.from({ length: MAX_CHANNELS_PER_POD + 1 }, (_, i) => `c${i}`);
    const v = view(names);
    expect(codeOf(() => prioritizeNodes(v, pod(names), NODES))).toBe(ErrorCode.BAD_EXTENDER_ARGS);
    expect(() => filterNodes(v, pod(names), NODES)).toThrow(`pod ns/p is on more than ${MAX_CHANNELS_PER_POD} channels`);
    expect(prioritizeNodes(v, pod(names.slice(1)), NODES)).toHaveLength(NODES.length);
  });

  it(`refuses a request naming more than ${MAX_NODE_NAMES} nodes, either way it names them, and takes exactly that many`, () => {
    const names = Array.from({ length: MAX_NODE_NAMES + 1 }, (_, i) => `n${i}`);
    const p = pod([]);
    expect(() => parseExtenderArgs({ Pod: p, NodeNames: names })).toThrow(
      `the request names ${MAX_NODE_NAMES + 1} nodes, more than the ${MAX_NODE_NAMES} allowed`,
    );
    const items = names.map((name) => ({ metadata: { name } }));
    expect(codeOf(() => parseExtenderArgs({ Pod: p, Nodes: { items } }))).toBe(ErrorCode.BAD_EXTENDER_ARGS);
    expect(parseExtenderArgs({ Pod: p, NodeNames: names.slice(1) }).names).toHaveLength(MAX_NODE_NAMES);
    expect(parseExtenderArgs({ Pod: p, Nodes: { items: items.slice(1) } }).names).toHaveLength(MAX_NODE_NAMES);
  });
});
