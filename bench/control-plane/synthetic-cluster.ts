/**
 * Controller caches filled as a large cluster would fill them: NODES nodes with ready
 * agents, CHANNELS channels in one namespace, PODS injected pods spread over the nodes
 * (each channel's pods on a few nodes). Deterministic, so runs compare.
 */
import { V1MicroTime, type V1Pod } from '@kubernetes/client-node';
import { AgentLeases } from '../../src/k8s/agent-leases.js';
import { ChannelDirectory } from '../../src/k8s/channel-directory.js';
import { PlacementIndex } from '../../src/k8s/placement-index.js';
import type { PlacementView } from '../../src/extender/placement.js';

export interface ClusterShape {
  nodes: number;
  pods: number;
  channels: number;
}

export const NAMESPACE = 'video';

export function nodeNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `node-${String(i + 1).padStart(4, '0')}`);
}

export function syntheticView(shape: ClusterShape): PlacementView {
  const channels = new ChannelDirectory();
  for (let c = 0; c < shape.channels; c++) {
    channels.upsert({
      metadata: { namespace: NAMESPACE, name: `ch-${c}`, uid: `uid-${c}` },
      spec: { selector: { matchLabels: { channel: `ch-${c}` } }, placement: c % 5 === 0 ? 'Require' : 'Prefer' },
    });
  }
  const nodes = nodeNames(shape.nodes);
  const agents = new AgentLeases();
  for (const node of nodes)
    agents.upsert({ metadata: { name: `agent.${node}` }, spec: { holderIdentity: node, leaseDurationSeconds: 3600, renewTime: new V1MicroTime() } });
  const index = new PlacementIndex();
  for (let p = 0; p < shape.pods; p++) {
    const c = p % shape.channels;
    // A channel's pods sit on three nodes near its "home"; some pods use two channels.
    const node = nodes[(c * 7 + (p % 3)) % nodes.length]!;
    const names = p % 4 === 0 ? `ch-${c},ch-${(c + 1) % shape.channels}` : `ch-${c}`;
    index.upsertPod({
      metadata: { namespace: NAMESPACE, name: `pod-${p}`, uid: `pod-uid-${p}`, annotations: { 'shimmy.dev/channels': names } },
      spec: { nodeName: node, containers: [] },
      status: { phase: 'Running' },
    });
  }
  return { channels, index, agents, agentNamespace: 'shimmy-system' };
}

/** A pending pipeline pod on two channels, as kube-scheduler sends it. */
export function pendingPod(i: number, shape: ClusterShape): V1Pod {
  const c = i % shape.channels;
  return {
    metadata: {
      namespace: NAMESPACE,
      name: `new-${i}`,
      uid: `new-uid-${i}`,
      labels: { channel: `ch-${c}`, app: 'pipeline' },
      annotations: { 'shimmy.dev/channels': `ch-${c},ch-${(c + 1) % shape.channels}` },
    },
    spec: {
      schedulerName: 'shimmy-scheduler',
      hostIPC: true,
      containers: [{ name: 'stage', image: 'registry.example/stage:1.0', env: [{ name: 'SHIMMY_NAMESPACE', value: NAMESPACE }] }],
    },
    status: { phase: 'Pending' },
  };
}
