/**
 * What the master wants the world to look like, as pure functions: a channel's status
 * and its ChannelEndpoints (one per node), from the channel and the scheduled pods on it.
 */
import type { V1Condition, V1Pod } from '@kubernetes/client-node';
import { fnv1a } from '../channel/names.js';
import { resolveChannel } from '../k8s/channel-spec.js';
import { channelsOf } from '../k8s/pod-channels.js';
import { nodeLabelValue } from '../k8s/node-label.js';
import {
  API_VERSION,
  CHANNEL_LABEL,
  DEFAULTS,
  ENDPOINT,
  MANAGED_BY_LABEL,
  MANAGER,
  NODE_LABEL,
  type ChannelEndpoint,
  type ChannelEndpointStatus,
  type NodeEndpoints,
  type SharedMemoryChannel,
  type SharedMemoryChannelStatus,
} from '../k8s/types.js';

/** node → pod names (sorted), for the pods of one channel that are bound and running. */
export type Placement = Map<string, string[]>;

/** Groups a namespace's injected pods by channel name and node. */
export function placementsByChannel(pods: readonly V1Pod[]): Map<string, Placement> {
  const out = new Map<string, Placement>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    const phase = pod.status?.phase;
    if (!node || phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp) continue;
    for (const channel of channelsOf(pod)) {
      let placement = out.get(channel);
      if (!placement) out.set(channel, (placement = new Map()));
      const names = placement.get(node) ?? [];
      names.push(pod.metadata!.name!);
      placement.set(node, names);
    }
  }
  for (const placement of out.values()) for (const names of placement.values()) names.sort();
  return out;
}

export interface StatusInputs {
  channel: SharedMemoryChannel;
  placement: Placement;
  /** Problem with the spec (an invalid selector, say), or undefined. */
  problem: string | undefined;
  agentReady: (node: string) => boolean;
  /** The agents' reports for the channel's nodes (endpoints without a status are left out). */
  reports?: readonly ChannelEndpointStatus[];
  /** Hardened HostIPC: the group assigned to the channel. */
  group?: number;
}

/** The nodes' traffic as one figure per field; undefined before any agent has reported. */
export function rollUpTraffic(reports: readonly ChannelEndpointStatus[]): SharedMemoryChannelStatus['traffic'] {
  if (reports.length === 0) return undefined;
  const sum = (f: 'publishers' | 'subscribers' | 'messages' | 'lost') => reports.reduce((n, r) => n + (r[f] ?? 0), 0);
  return {
    publishers: sum('publishers'),
    subscribers: sum('subscribers'),
    messages: sum('messages'),
    lag: Math.max(...reports.map((r) => r.lag ?? 0)),
    lost: sum('lost'),
  };
}

/** What a split channel's pods across nodes get: replication by the agents (with any link that is not connected). */
function replicationSummary(reports: readonly ChannelEndpointStatus[]): string {
  const notConnected = [
    ...new Set(reports.flatMap((r) => (r.replication ?? []).filter((p) => p.link !== 'Connected').map((p) => `${p.node} ${p.link}`))),
  ].sort();
  return notConnected.length
    ? `the agents replicate it between the nodes; links not connected: ${notConnected.join(', ')}`
    : 'the agents replicate it between the nodes';
}

function condition(type: string, ok: boolean, reason: string, message: string, generation: number | undefined): V1Condition {
  return {
    type,
    status: ok ? 'True' : 'False',
    reason,
    message,
    lastTransitionTime: new Date(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

export function desiredStatus({ channel, placement, problem, agentReady, reports = [], group }: StatusInputs): SharedMemoryChannelStatus {
  const generation = channel.metadata.generation;
  const nodes = [...placement.keys()].sort();
  const endpoints: NodeEndpoints[] = nodes.map((node) => ({ node, pods: placement.get(node)! }));
  const pods = endpoints.reduce((n, e) => n + e.pods.length, 0);
  const notReady = nodes.filter((n) => !agentReady(n));
  let ready: V1Condition;
  if (problem) ready = condition('Ready', false, 'InvalidSpec', problem, generation);
  else if (notReady.length) ready = condition('Ready', false, 'AgentNotReady', `no ready shimmy agent on ${notReady.join(', ')}`, generation);
  else if (nodes.length === 0) ready = condition('Ready', true, 'NoEndpoints', 'accepted; no pod on the channel is scheduled yet', generation);
  else ready = condition('Ready', true, 'AgentsReady', `agents ready on ${nodes.length} node(s)`, generation);
  const split =
    nodes.length > 1
      ? condition('Split', true, 'MultipleNodes', `endpoints on ${nodes.join(', ')}; ${replicationSummary(reports)}`, generation)
      : condition('Split', false, nodes.length ? 'SingleNode' : 'NoEndpoints', nodes.length ? `all endpoints on ${nodes[0]}` : 'no endpoints', generation);
  let key: string | undefined;
  try {
    key = resolveChannel(channel).keyText;
  } catch {
    key = undefined;
  }
  const traffic = rollUpTraffic(reports);
  return {
    observedGeneration: generation,
    conditions: [ready, split],
    endpoints,
    pods,
    nodes: nodes.length,
    ...(key ? { key } : {}),
    ...(group !== undefined ? { group } : {}),
    ...(traffic ? { traffic } : {}),
  };
}

/** Equal apart from lastTransitionTime, which is kept from the current status. */
export function sameStatus(current: SharedMemoryChannelStatus | undefined, desired: SharedMemoryChannelStatus): boolean {
  if (!current) return false;
  const strip = (s: SharedMemoryChannelStatus) => JSON.stringify({ ...s, conditions: (s.conditions ?? []).map(({ lastTransitionTime: _t, ...c }) => c) });
  return strip(current) === strip(desired);
}

/** Keeps lastTransitionTime of conditions whose status did not change. */
export function carryTransitionTimes(current: SharedMemoryChannelStatus | undefined, desired: SharedMemoryChannelStatus): void {
  for (const c of desired.conditions ?? []) {
    const old = current?.conditions?.find((o) => o.type === c.type);
    if (old && old.status === c.status) c.lastTransitionTime = old.lastTransitionTime;
  }
}

/** `<channel>.<node>`, or a hash of the node when that would pass 253 characters. */
export function endpointName(channel: string, node: string): string {
  const name = `${channel}.${node}`;
  return name.length <= 253 ? name : `${channel}.${(fnv1a(node) >>> 0).toString(16)}`;
}

export function desiredEndpoints(channel: SharedMemoryChannel, placement: Placement, group?: number): ChannelEndpoint[] {
  const resolved = resolveChannel(channel);
  const { namespace, name, uid } = channel.metadata;
  const nodes = [...placement.keys()].sort();
  return nodes.map((node) => ({
    apiVersion: API_VERSION,
    kind: ENDPOINT.kind,
    metadata: {
      name: endpointName(name!, node),
      namespace: namespace!,
      labels: { [CHANNEL_LABEL]: name!, [NODE_LABEL]: nodeLabelValue(node), [MANAGED_BY_LABEL]: MANAGER },
      ownerReferences: uid ? [{ apiVersion: API_VERSION, kind: 'SharedMemoryChannel', name: name!, uid, controller: true, blockOwnerDeletion: false }] : [],
    },
    spec: {
      channel: name!,
      channelUID: uid ?? '',
      node,
      key: resolved.keyText,
      mode: channel.spec.mode ?? DEFAULTS.mode,
      capacity: resolved.config.capacity,
      maxMessageSize: resolved.config.maxMessage,
      slowConsumer: channel.spec.slowConsumer ?? DEFAULTS.slowConsumer,
      memory: resolved.memory,
      ...(group !== undefined ? { group } : {}),
      pods: placement.get(node)!,
      peers: nodes.filter((n) => n !== node),
    },
  }));
}

/**
 * The pods' placement, plus each node whose pods left while its agent (ready) still holds
 * frames a node of the placement has not acknowledged: its endpoint stays, with no pods, so
 * the peers' agents (one restarted meanwhile, say) still take them; it goes once they are
 * acknowledged, or the peer is dropped.
 */
export function withUndelivered(placement: Placement, endpoints: readonly ChannelEndpoint[], agentReady: (node: string) => boolean): Placement {
  let out = placement;
  for (const e of endpoints) {
    const node = e.spec.node;
    if (placement.has(node) || !agentReady(node)) continue;
    const owed = (e.status?.replication ?? []).some((p) => placement.has(p.node) && p.link !== 'Dropped' && (p.unacknowledged ?? 0) > 0);
    if (!owed) continue;
    if (out === placement) out = new Map(placement);
    out.set(node, []);
  }
  return out;
}
