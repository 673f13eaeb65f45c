/**
 * The group of each hardened memory: HostIPC channel, as a pure function of the channels
 * and the pods that hold groups. A channel keeps the group its status records; one without
 * a group gets the lowest free one in the range. A group stays taken while a channel has it
 * or a live pod was given it (the pods of a deleted channel keep their supplementalGroups
 * until they go, so a new channel must not get that group meanwhile). Channels are taken
 * oldest first, so repeated passes over the same caches give the same answer even before
 * the controller's status writes come back through its watch.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { SharedMemoryChannel } from '../k8s/types.js';

export interface GroupRange {
  first: number;
  count: number;
}

export interface GroupAssignment {
  /** `namespace/name` → group, for every HostIPC channel that has one. */
  groups: Map<string, number>;
  /** HostIPC channels left without a group: the range is used up. */
  exhausted: string[];
}

export const inRange = (gid: number, range: GroupRange): boolean => gid >= range.first && gid < range.first + range.count;

const nameOf = (c: SharedMemoryChannel) => `${c.metadata.namespace}/${c.metadata.name}`;

function oldestFirst(a: SharedMemoryChannel, b: SharedMemoryChannel): number {
  const at = (c: SharedMemoryChannel) => new Date(c.metadata.creationTimestamp ?? 0).getTime();
  return at(a) - at(b) || nameOf(a).localeCompare(nameOf(b));
}

/** The groups of the range that live pods carry in supplementalGroups. */
export function groupsHeldByPods(pods: readonly V1Pod[], range: GroupRange): Set<number> {
  const held = new Set<number>();
  for (const pod of pods) for (const gid of pod.spec?.securityContext?.supplementalGroups ?? []) if (inRange(gid, range)) held.add(gid);
  return held;
}

export function assignGroups(channels: readonly SharedMemoryChannel[], heldByPods: ReadonlySet<number>, range: GroupRange): GroupAssignment {
  const hostIPC = channels.filter((c) => c.spec?.memory === 'HostIPC').sort(oldestFirst);
  const groups = new Map<string, number>();
  const taken = new Set<number>();
  const waiting: SharedMemoryChannel[] = [];
  for (const channel of hostIPC) {
    const gid = channel.status?.group;
    if (gid !== undefined && inRange(gid, range) && !taken.has(gid)) {
      groups.set(nameOf(channel), gid);
      taken.add(gid);
    } else waiting.push(channel);
  }
  const exhausted: string[] = [];
  let next = range.first;
  for (const channel of waiting) {
    while (next < range.first + range.count && (taken.has(next) || heldByPods.has(next))) next++;
    if (next >= range.first + range.count) {
      exhausted.push(nameOf(channel));
      continue;
    }
    groups.set(nameOf(channel), next);
    taken.add(next);
  }
  return { groups, exhausted };
}
