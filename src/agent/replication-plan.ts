/**
 * What the agent tells its replication thread and what it writes back, as pure functions:
 * the channels of its node's endpoints that have peers, where the peers listen (from their
 * Leases), and each endpoint's replication status.
 */
import { isIPv4 } from 'node:net';
import type { ChannelRef } from '../channel/names.js';
import type { ReplicatedChannel, ReplicatorReport } from '../replication/node-replicator.js';
import type { ChannelEndpoint, PeerReplication } from '../k8s/types.js';
import type { WantedSegment } from './segment-plan.js';

/** `IP:PORT` from a Lease annotation, or undefined when it is not one. */
export function parseReplicationAddress(text: string | undefined): { ip: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text ?? '');
  if (!m || !isIPv4(m[1]!)) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { ip: m[1]!, port } : undefined;
}

/** The channels of these endpoints (with the segments they want) that have peers. */
export function replicatedChannels(served: { endpoint: ChannelEndpoint; want: WantedSegment }[], fileOf: (ref: ChannelRef) => string): ReplicatedChannel[] {
  return served
    .filter(({ endpoint }) => endpoint.spec.peers.length > 0)
    .map(({ endpoint, want }) => ({
      ref: want.ref,
      key: want.key,
      maxMessage: want.settings.maxMessage,
      windowBytes: want.settings.capacity,
      peers: [...endpoint.spec.peers].sort(),
      mode: want.settings.mode,
      ...(want.memory === 'Volume' ? { file: fileOf(want.ref) } : {}),
    }));
}

/** One entry per peer of the endpoint: the link and the channel's counters with that peer. */
export function peerStatuses(
  endpoint: ChannelEndpoint,
  report: ReplicatorReport | undefined,
  hasAddress: (node: string) => boolean,
  off: string | undefined,
): PeerReplication[] {
  const id = `${endpoint.metadata.namespace}/${endpoint.spec.channel}`;
  const counters = new Map((report?.channels[id] ?? []).map((c) => [c.peer, c]));
  const links = new Map((report?.links ?? []).map((l) => [l.node, l]));
  const waiting = report?.waiting[id];
  return [...endpoint.spec.peers].sort().map((node) => {
    const c = counters.get(node);
    const link = links.get(node);
    const zero = { forwarded: 0, landed: 0, resent: 0, repeats: 0, resumes: 0, recovered: 0, reconnects: link?.reconnects ?? 0 };
    if (off) return { node, link: 'Off', ...zero, message: off };
    if (!hasAddress(node)) return { node, link: 'NoAddress', ...zero, message: "the peer's agent has not published its replication address (on its Lease)" };
    return {
      node,
      link: link?.state ?? 'Connecting',
      ...(link?.transport ? { transport: link.transport } : {}),
      forwarded: c?.forwarded ?? 0,
      landed: c?.landed ?? 0,
      resent: c?.resent ?? 0,
      repeats: c?.repeats ?? 0,
      resumes: c?.resumes ?? 0,
      recovered: c?.recovered ?? 0,
      unacknowledged: c?.unacknowledged ?? 0,
      reconnects: link?.reconnects ?? 0,
      ...(waiting ? { message: `not replicating yet: ${waiting}` } : link?.state !== 'Connected' && link?.lastError ? { message: link.lastError } : {}),
    };
  });
}
