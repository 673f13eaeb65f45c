/**
 * Which nodes run pods of which channel, from the pods the webhook patched (their
 * shimmy.dev/channels annotation and spec.nodeName). The scheduler extender reads it in
 * its request path, so every question is a map lookup.
 *
 * A pod the extender has just steered to a node is "assumed" there until the pod informer
 * reports the binding (or the assumption expires): kube-scheduler schedules the next pod
 * before the previous pod's binding reaches any watch.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { channelsOf } from './pod-channels.js';

/** "namespace/name", the key of a channel in the index. */
export const channelId = (namespace: string, name: string): string => `${namespace}/${name}`;

interface Placed {
  node: string;
  channels: string[];
  assumedUntil?: number;
}

const ASSUME_MS = 30_000;

export class PlacementIndex {
  private readonly pods = new Map<string, Placed>();
  /** channel id → node → pod count */
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  private key(pod: V1Pod): string {
    return pod.metadata?.uid ?? `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  }

  private add(podKey: string, placed: Placed): void {
    this.pods.set(podKey, placed);
    for (const ch of placed.channels) {
      let nodes = this.counts.get(ch);
      if (!nodes) this.counts.set(ch, (nodes = new Map()));
      nodes.set(placed.node, (nodes.get(placed.node) ?? 0) + 1);
    }
  }

  private drop(podKey: string): void {
    const placed = this.pods.get(podKey);
    if (!placed) return;
    this.pods.delete(podKey);
    for (const ch of placed.channels) {
      const nodes = this.counts.get(ch)!;
      const n = (nodes.get(placed.node) ?? 1) - 1;
      if (n > 0) nodes.set(placed.node, n);
      else nodes.delete(placed.node);
      if (nodes.size === 0) this.counts.delete(ch);
    }
  }

  upsertPod(pod: V1Pod): void {
    const k = this.key(pod);
    const node = pod.spec?.nodeName;
    const existing = this.pods.get(k);
    const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || !!pod.metadata?.deletionTimestamp;
    if (!node || terminal) {
      // A pending pod keeps the assumption the extender made for it.
      if (terminal || existing?.assumedUntil === undefined) this.drop(k);
      return;
    }
    const namespace = pod.metadata?.namespace ?? '';
    const channels = channelsOf(pod).map((c) => channelId(namespace, c));
    if (existing && existing.assumedUntil === undefined && existing.node === node && existing.channels.join() === channels.join()) return;
    this.drop(k);
    if (channels.length) this.add(k, { node, channels });
  }

  removePod(pod: V1Pod): void {
    this.drop(this.key(pod));
  }

  /** Records that `pod` is about to land on `node` (see the class comment). */
  /** `channels`: the ids of the pod's channels that exist (the extender's view), not its annotation's every name. */
  assume(pod: V1Pod, node: string, channels: readonly string[]): void {
    const k = this.key(pod);
    const existing = this.pods.get(k);
    if (existing && existing.assumedUntil === undefined) return;
    this.drop(k);
    if (channels.length) this.add(k, { node, channels: [...channels], assumedUntil: this.now() + ASSUME_MS });
  }

  /** Forgets assumptions older than their deadline; called periodically. */
  expireAssumptions(): void {
    const now = this.now();
    for (const [k, placed] of this.pods) if (placed.assumedUntil !== undefined && placed.assumedUntil < now) this.drop(k);
  }

  /** node → number of the channel's pods there */
  nodesOf(channel: string): ReadonlyMap<string, number> {
    return this.counts.get(channel) ?? EMPTY;
  }

  channelIds(): string[] {
    return [...this.counts.keys()];
  }
}

const EMPTY: ReadonlyMap<string, number> = new Map();
