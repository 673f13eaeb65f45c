/**
 * The extender's decisions, as pure functions of the controller's caches.
 *
 * filter: for a pod on channels, drop nodes whose agent is not ready, and for channels
 * with placement Require, nodes that would split the channel while some candidate
 * already runs it.
 * prioritize: 0..10 per node, the share of the pod's (Prefer/Require) channels that
 * already have pods there. For a channel with no pods yet, one "home" node is picked by
 * rendezvous hashing of the channel id over the candidates, so the channel's first pods
 * converge on one node and different channels spread out.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { fnv1aBytes } from '../channel/names.js';
import type { AgentLeases } from '../k8s/agent-leases.js';
import type { ChannelDirectory } from '../k8s/channel-directory.js';
import { channelId, type PlacementIndex } from '../k8s/placement-index.js';
import { channelsOf } from '../k8s/pod-channels.js';
import { DEFAULTS, type Placement } from '../k8s/types.js';
import { ExtenderArgsError, MAX_EXTENDER_PRIORITY, type HostPriority } from './wire.js';

export interface PlacementView {
  channels: ChannelDirectory;
  index: PlacementIndex;
  agents: AgentLeases;
  /** Namespace of the agents' Leases, named in failure reasons. */
  agentNamespace: string;
}

interface PodChannel {
  id: string;
  placement: Placement;
}

/** More channels on one pod than anyone runs; each costs a pass over the candidate nodes. */
export const MAX_CHANNELS_PER_POD = 64;

/** The pod's channels that exist; names in its annotation that match no channel count for nothing. */
function podChannels(view: PlacementView, pod: V1Pod): PodChannel[] {
  const namespace = pod.metadata?.namespace ?? '';
  const out: PodChannel[] = [];
  for (const name of new Set(channelsOf(pod))) {
    const channel = view.channels.get(namespace, name);
    if (!channel) continue;
    if (out.length === MAX_CHANNELS_PER_POD)
      throw new ExtenderArgsError(`pod ${namespace}/${pod.metadata?.name} is on more than ${MAX_CHANNELS_PER_POD} channels`);
    out.push({ id: channelId(namespace, name), placement: channel.spec?.placement ?? DEFAULTS.placement });
  }
  return out;
}

export interface FilterOutcome {
  passed: string[];
  failed: Record<string, string>;
}

export function filterNodes(view: PlacementView, pod: V1Pod, names: readonly string[]): FilterOutcome {
  const channels = podChannels(view, pod);
  if (channels.length === 0) return { passed: [...names], failed: {} };
  const failed: Record<string, string> = {};
  const now = view.agents.clock();
  let passed = names.filter((node) => {
    if (view.agents.isReady(node, now)) return true;
    failed[node] = `shimmy agent not ready on ${node} (no unexpired Lease with holderIdentity ${node} in ${view.agentNamespace})`;
    return false;
  });
  for (const ch of channels) {
    if (ch.placement !== 'Require') continue;
    const hosts = view.index.nodesOf(ch.id);
    if (!passed.some((node) => hosts.has(node))) continue;
    const reason = `would split channel ${ch.id} (placement: Require); its pods run on ${[...hosts.keys()].slice(0, 3).join(', ')}`;
    passed = passed.filter((node) => {
      if (hosts.has(node)) return true;
      failed[node] = reason;
      return false;
    });
  }
  // kube-scheduler skips prioritize when one node is left, so the choice is known here.
  if (passed.length === 1)
    view.index.assume(
      pod,
      passed[0]!,
      channels.map((c) => c.id),
    );
  return { passed, failed };
}

const utf8 = new TextEncoder();

/** Rendezvous hashing: the node with the largest FNV-1a of `channel \0 node`. */
function homeNode(channel: string, names: readonly string[], encoded: readonly Uint8Array[]): string | undefined {
  const prefix = utf8.encode(`${channel}\u0000`);
  const seed = fnv1aBytes(prefix);
  let best: string | undefined;
  // Stryker disable next-line UnaryOperator: weights are unsigned 32-bit hashes; -1 and +1 differ only for a node whose hash is 0 or 1, a 32-bit preimage no test can find
  let bestWeight = -1;
  for (let i = 0; i < names.length; i++) {
    const weight = fnv1aBytes(encoded[i]!, 0, encoded[i]!.length, seed);
    if (weight > bestWeight) [best, bestWeight] = [names[i], weight];
  }
  return best;
}

export function prioritizeNodes(view: PlacementView, pod: V1Pod, names: readonly string[]): HostPriority[] {
  const all = podChannels(view, pod);
  const channels = all.filter((c) => c.placement !== 'None');
  if (channels.length === 0 || names.length === 0) return names.map((Host) => ({ Host, Score: 0 }));
  const shared = new Map<string, number>();
  let encoded: Uint8Array[] | undefined;
  for (const ch of channels) {
    const hosts = view.index.nodesOf(ch.id);
    const placed = names.filter((n) => hosts.has(n));
    const favoured = placed.length > 0 ? placed : [homeNode(ch.id, names, (encoded ??= names.map((n) => utf8.encode(n))))!];
    for (const node of favoured) shared.set(node, (shared.get(node) ?? 0) + 1);
  }
  const scores = names.map((Host) => ({ Host, Score: Math.round((MAX_EXTENDER_PRIORITY * (shared.get(Host) ?? 0)) / channels.length) }));
  let best: HostPriority | undefined;
  for (const s of scores) if (s.Score > 0 && (!best || s.Score > best.Score)) best = s;
  if (best)
    view.index.assume(
      pod,
      best.Host,
      all.map((c) => c.id),
    );
  return scores;
}
