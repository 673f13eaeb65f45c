import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { SharedMemoryChannel } from '../k8s/types.js';
import { assignGroups, groupsHeldByPods } from './channel-groups.js';

const RANGE = { first: 100, count: 3 };
let clock = 0;
const channel = (name: string, memory: 'HostIPC' | 'Volume' = 'HostIPC', group?: number, namespace = 'a'): SharedMemoryChannel => ({
  metadata: { namespace, name, creationTimestamp: new Date(1_000_000 + clock++ * 1000) },
  spec: { selector: {}, memory },
  ...(group !== undefined ? { status: { group } } : {}),
});
const podWith = (groups: number[]): V1Pod => ({ metadata: { name: 'p' }, spec: { containers: [], securityContext: { supplementalGroups: groups } } });

describe('assignGroups', () => {
  it('gives HostIPC channels the lowest free groups, oldest first, and Volume channels none', () => {
    const { groups, exhausted } = assignGroups([channel('young'), channel('volume', 'Volume')].reverse().concat(channel('younger')), new Set(), RANGE);
    expect(Object.fromEntries(groups)).toEqual({ 'a/young': 100, 'a/younger': 101 });
    expect(exhausted).toEqual([]);
  });

  it('keeps the group a status records, and gives the same answer on every pass over the same input', () => {
    const old = channel('old', 'HostIPC', 102);
    const fresh = channel('fresh');
    const once = assignGroups([fresh, old], new Set(), RANGE);
    expect(Object.fromEntries(once.groups)).toEqual({ 'a/old': 102, 'a/fresh': 100 });
    expect(assignGroups([old, fresh], new Set(), RANGE).groups).toEqual(once.groups);
  });

  it('does not hand out a group that live pods still hold (a deleted channel’s pods), nor one outside the range', () => {
    const held = groupsHeldByPods([podWith([100, 7]), podWith([99, 103])], RANGE);
    expect([...held]).toEqual([100]);
    const outside = channel('outside', 'HostIPC', 250);
    expect(Object.fromEntries(assignGroups([channel('n'), outside], held, RANGE).groups)).toEqual({ 'a/outside': 101, 'a/n': 102 });
  });

  it('reassigns the younger of two channels that claim one group, across namespaces', () => {
    const first = channel('x', 'HostIPC', 101, 'ns1');
    const second = channel('x', 'HostIPC', 101, 'ns2');
    expect(Object.fromEntries(assignGroups([second, first], new Set(), RANGE).groups)).toEqual({ 'ns1/x': 101, 'ns2/x': 100 });
  });

  it('names the channels left without a group when the range is used up', () => {
    const chans = ['c1', 'c2', 'c3', 'c4'].map((n) => channel(n));
    const { groups, exhausted } = assignGroups(chans, new Set([101]), RANGE);
    expect(Object.fromEntries(groups)).toEqual({ 'a/c1': 100, 'a/c2': 102 });
    expect(exhausted).toEqual(['a/c3', 'a/c4']);
  });
});
