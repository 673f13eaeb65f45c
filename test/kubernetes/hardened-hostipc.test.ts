/**
 * Hardened memory: HostIPC on a real kube-apiserver: the controller gives each HostIPC channel
 * a group of its own, the webhook gives that group to the channel's pods only, and the chart's
 * pod policy keeps every other way to the group, the segment owner's uid or root out of
 * opted-in namespaces.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInjectedChannel } from '../../src/client/env.js';
import { GROUPS_ANNOTATION } from '../../src/k8s/pod-channels.js';
import { GROUP, VERSION } from '../../src/k8s/types.js';
import { eventually } from '../helpers/wait.js';
import {
  applyChartTemplate,
  createChannel,
  createNamespace,
  getChannel,
  pod,
  startCluster,
  type ClusterFixture,
  refusal as refuse,
} from './cluster-fixture.js';

const OWNER = 64500;
const GROUPS = { first: 64600, count: 3 };
const A = 'tenant-a';
const B = 'tenant-b';
let f: ClusterFixture;

beforeAll(async () => {
  f = await startCluster({ nodes: 1, agents: false });
  await f.startController({ hostIPC: { segmentOwner: OWNER, groups: GROUPS } });
  await applyChartTemplate(f, 'pod-policy.yaml', `hostIPC.channelGroups=${GROUPS.first}-${GROUPS.first + GROUPS.count - 1}`);
  await createNamespace(f, A, true);
  await createNamespace(f, B, true);
}, 600_000);

afterAll(async () => {
  await f?.stop();
});

const groupOf = (namespace: string, name: string) =>
  eventually(`channel ${namespace}/${name} has a group`, async () => (await getChannel(f, namespace, name)).status?.group, 20_000);

/** A pod the policy admits with hostIPC: a uid and group of its own, no way back to root. */
function tenantPod(name: string, labels: Record<string, string>, securityContext: NonNullable<V1Pod['spec']>['securityContext'] = {}): V1Pod {
  const p = pod(name, labels, { securityContext: { runAsUser: 10001, runAsGroup: 10001, ...securityContext } });
  p.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false };
  return p;
}

const create = (namespace: string, body: V1Pod) => f.core.createNamespacedPod({ namespace, body });
const refusal = (namespace: string, body: V1Pod) => refuse(f, namespace, body);

describe('hardened HostIPC channels', () => {
  let groupA = 0;

  it('get a group each from the range, different across namespaces, and Volume channels none', async () => {
    await createChannel(f, A, 'frames', { selector: { matchLabels: { app: 'cam' } }, memory: 'HostIPC' });
    await createChannel(f, B, 'frames', { selector: { matchLabels: { app: 'cam' } }, memory: 'HostIPC' });
    await createChannel(f, A, 'files', { selector: { matchLabels: { app: 'files' } } });
    groupA = await groupOf(A, 'frames');
    const groupB = await groupOf(B, 'frames');
    expect(new Set([groupA, groupB]).size).toBe(2);
    for (const g of [groupA, groupB]) expect(g >= GROUPS.first && g < GROUPS.first + GROUPS.count).toBe(true);
    await eventually('the Volume channel has a status', async () => !!(await getChannel(f, A, 'files')).status?.conditions);
    expect((await getChannel(f, A, 'files')).status?.group).toBeUndefined();
  });

  it("give a channel's pods its group, Strict supplementalGroupsPolicy and the owner to check, and the policy admits them", async () => {
    // The policy is loaded asynchronously; a refusal of root proves it is in force.
    await eventually(
      'the pod policy refuses a root hostIPC pod',
      async () => {
        try {
          const root = pod(`root-${Date.now()}`, { app: 'cam' });
          await create(A, root);
          await f.core.deleteNamespacedPod({ name: root.metadata!.name!, namespace: A });
          return false;
        } catch (err) {
          return /must set runAsUser/.test(String((err as { body?: string }).body ?? err));
        }
      },
      30_000,
    );
    const stored = await create(A, tenantPod('cam', { app: 'cam' }));
    expect(stored.spec!.hostIPC).toBe(true);
    expect(stored.spec!.securityContext).toMatchObject({ supplementalGroups: [groupA], supplementalGroupsPolicy: 'Strict' });
    expect(stored.metadata!.annotations![GROUPS_ANNOTATION]).toBe(String(groupA));
    const env = Object.fromEntries(stored.spec!.containers[0]!.env!.map((e) => [e.name, e.value!]));
    expect(readInjectedChannel('frames', env).owner).toEqual({ uid: OWNER, gid: groupA });
  });

  it('refuse, by the policy, a hostIPC pod as root, as the segment owner, without runAsGroup, with privilege escalation or Merge groups', async () => {
    expect(await refusal(A, tenantPod('as-root', { app: 'cam' }, { runAsUser: 0 }))).toMatch(/must set runAsUser .* other than 0 and the segment owner 64500/);
    expect(await refusal(A, tenantPod('as-owner', { app: 'cam' }, { runAsUser: OWNER }))).toMatch(/other than 0 and the segment owner/);
    const noGroup = tenantPod('no-group', { app: 'cam' });
    delete noGroup.spec!.securityContext!.runAsGroup;
    expect(await refusal(A, noGroup)).toMatch(/must set runAsGroup/);
    const escalating = tenantPod('escalating', { app: 'cam' });
    escalating.spec!.containers[0]!.securityContext = {};
    expect(await refusal(A, escalating)).toMatch(/allowPrivilegeEscalation: false/);
    expect(await refusal(A, tenantPod('merge', { app: 'cam' }, { supplementalGroupsPolicy: 'Merge' }))).toMatch(/supplementalGroupsPolicy Strict/);
    // Without hostIPC too, nobody runs as the owner.
    expect(await refusal(A, tenantPod('owner-plain', {}, { runAsUser: OWNER }))).toMatch(/no pod in a namespace opted into Shimmy may run as it/);
  });

  it("refuse a pod of another namespace that claims A's group, with a forged groups annotation too", async () => {
    expect(await refusal(B, tenantPod('claims', {}, { supplementalGroups: [groupA] }))).toMatch(/are the channels' groups/);
    const forged = tenantPod('forged', {}, { supplementalGroups: [groupA] });
    forged.metadata!.annotations = { [GROUPS_ANNOTATION]: String(groupA) };
    expect(await refusal(B, forged)).toMatch(/are the channels' groups/);
    expect(await refusal(B, tenantPod('fs-group', {}, { fsGroup: groupA }))).toMatch(/are the channels' groups/);
    // B's own channel gives B's pods B's group, not A's.
    const own = await create(B, tenantPod('own', { app: 'cam' }));
    expect(own.spec!.securityContext!.supplementalGroups).toEqual([await groupOf(B, 'frames')]);
  });

  it("keeps a deleted channel's group while its pods live, and says when the range is used up", async () => {
    await f.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: A, plural: 'sharedmemorychannels', name: 'frames' });
    // The pod `cam` still holds groupA: the next two channels get the last free group and nothing.
    await createChannel(f, A, 'next', { selector: { matchLabels: { app: 'next' } }, memory: 'HostIPC' });
    const next = await groupOf(A, 'next');
    expect(next).not.toBe(groupA);
    await createChannel(f, A, 'full', { selector: { matchLabels: { app: 'full' } }, memory: 'HostIPC' });
    const ready = await eventually(
      'channel full reports the used-up range',
      async () => (await getChannel(f, A, 'full')).status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False'),
      20_000,
    );
    expect(ready.message).toMatch(/no free group left in the range 64600-64602/);
    expect(await refusal(A, tenantPod('on-full', { app: 'full' }))).toMatch(/channel\(s\) full have no group yet/);
  });
});
