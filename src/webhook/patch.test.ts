import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { resolveChannel } from '../k8s/channel-spec.js';
import type { SharedMemoryChannel } from '../k8s/types.js';
import { readInjectedChannel } from '../client/env.js';
import { mutatePod, podEnv, podPatch, podVolumes as podVolumesOf, volumeName } from './patch.js';

const channel = (name: string, extra: Partial<SharedMemoryChannel['spec']> = {}): SharedMemoryChannel => ({
  metadata: { namespace: 'video', name, uid: `uid-${name}` },
  spec: { selector: { matchLabels: { app: 'x' } }, ...extra },
});
const frames = resolveChannel(channel('frames', { capacity: '8Mi', memory: 'HostIPC' }));
const boxes = resolveChannel(channel('boxes', { mode: 'Stream', slowConsumer: 'Overwrite', memory: 'HostIPC' }));
const bare = (): V1Pod => ({
  metadata: { name: 'p', namespace: 'video' },
  spec: {
    containers: [
      { name: 'a', image: 'a' },
      { name: 'b', image: 'b' },
    ],
  },
});
const apply = (pod: V1Pod, ops: ReturnType<typeof podPatch>) => fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;

describe('podPatch', () => {
  it('adds env, annotations and labels whole when they are absent, escaping "/" in keys', () => {
    const ops = podPatch(bare(), { namespace: 'video', channels: [boxes, frames], schedulerName: 'shimmy-scheduler' });
    const paths = ops.map((o) => `${o.op} ${o.path}`);
    expect(paths).toContain('add /spec/containers/0/env');
    expect(paths).toContain('add /spec/containers/1/env');
    expect(paths).toContain('add /metadata/annotations');
    expect(paths).toContain('add /spec/hostIPC');
    expect(paths).toContain('add /spec/schedulerName');
    const patched = apply(bare(), ops);
    expect(patched.metadata!.annotations).toEqual({ 'shimmy.dev/channels': 'boxes,frames' });
    for (const c of patched.spec!.containers) {
      const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
      expect(readInjectedChannel('frames', env).config).toEqual({ mode: 'pubsub', capacity: 8 * 2 ** 20, maxMessage: 2 ** 20, slowConsumer: 'block' });
      expect(readInjectedChannel('boxes', env).config).toMatchObject({ mode: 'stream', slowConsumer: 'overwrite' });
    }
  });

  it('escapes "/" and "~" when adding to existing annotations', () => {
    const pod = bare();
    pod.metadata!.annotations = { 'a~b/c': 'kept' };
    pod.metadata!.labels = { app: 'x' };
    const ops = podPatch(pod, { namespace: 'video', channels: [frames] });
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/annotations/shimmy.dev~1channels', value: 'frames' });
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/labels/shimmy.dev~1injected', value: 'true' });
    expect(apply(pod, ops).metadata!.annotations!['a~b/c']).toBe('kept');
  });

  it('is idempotent: a patched pod needs no further operation (reinvocationPolicy: IfNeeded)', () => {
    const m = { namespace: 'video', channels: [frames, boxes], schedulerName: 'shimmy-scheduler' };
    const once = apply(bare(), podPatch(bare(), m));
    expect(podPatch(once, m)).toEqual([]);
  });

  it("replaces stale values and valueFrom, keeps the user's other variables in place", () => {
    const pod = bare();
    pod.spec!.containers[0]!.env = [
      { name: 'KEEP', value: '1' },
      { name: 'SHIMMY_CHANNEL_FRAMES_KEY', valueFrom: { configMapKeyRef: { name: 'x', key: 'y' } } },
    ];
    const patched = apply(pod, podPatch(pod, { namespace: 'video', channels: [frames] }));
    const env = patched.spec!.containers[0]!.env!;
    expect(env[0]).toEqual({ name: 'KEEP', value: '1' });
    expect(env[1]).toEqual({ name: 'SHIMMY_CHANNEL_FRAMES_KEY', value: frames.keyText });
  });

  it('takes the default scheduler over but leaves a custom one alone', () => {
    const custom = bare();
    custom.spec!.schedulerName = 'gpu-scheduler';
    expect(apply(custom, podPatch(custom, { namespace: 'video', channels: [frames], schedulerName: 'shimmy-scheduler' })).spec!.schedulerName).toBe(
      'gpu-scheduler',
    );
    const dflt = bare();
    dflt.spec!.schedulerName = 'default-scheduler';
    expect(apply(dflt, podPatch(dflt, { namespace: 'video', channels: [frames], schedulerName: 'shimmy-scheduler' })).spec!.schedulerName).toBe(
      'shimmy-scheduler',
    );
  });
});

describe('mutatePod', () => {
  const m = { namespace: 'video', channels: [frames] };

  it('gives the pod hostIPC and every container, init containers included, the whole channel environment', () => {
    const pod = bare();
    pod.spec!.initContainers = [{ name: 'init', image: 'i' }];
    const out = mutatePod(pod, m);
    expect(out.spec!.hostIPC).toBe(true);
    for (const c of [...out.spec!.containers, ...out.spec!.initContainers!]) expect(c.env, c.name).toEqual(podEnv(m));
    expect(pod.spec!.initContainers[0]!.env).toBeUndefined();
  });

  it('leaves a spec without containers without containers', () => {
    const out = mutatePod({ metadata: { name: 'p' }, spec: {} as V1Pod['spec'] }, m);
    expect(out.spec).toEqual({ hostIPC: true });
  });

  it('replaces a stale plain value, keeping its place in the list', () => {
    const pod = bare();
    pod.spec!.containers[0]!.env = [
      { name: 'SHIMMY_NAMESPACE', value: 'old' },
      { name: 'KEEP', value: '1' },
    ];
    const env = mutatePod(pod, m).spec!.containers[0]!.env!;
    expect(env[0]).toEqual({ name: 'SHIMMY_NAMESPACE', value: 'video' });
    expect(env[1]).toEqual({ name: 'KEEP', value: '1' });
    expect(env.slice(2)).toEqual(podEnv(m).slice(1));
  });

  it('makes no operation for a variable that already has the right value, even with valueFrom: null', () => {
    const pod = mutatePod(bare(), m);
    const first = pod.spec!.containers[0]!.env!;
    first[0] = { name: first[0]!.name, value: first[0]!.value, valueFrom: null as unknown as undefined };
    expect(podPatch(pod, m)).toEqual([]);
  });
});

describe('Volume channels (the mode without hostIPC)', () => {
  const video = resolveChannel(channel('video-frames', { memory: 'Volume' }));
  const m = { namespace: 'video', channels: [video] };

  it('adds the CSI volume and its mount to every container, the file variable, and no hostIPC', () => {
    const pod = { ...bare(), spec: { ...bare().spec!, initContainers: [{ name: 'init', image: 'i' }] } };
    const out = apply(pod, podPatch(pod, m));
    expect(out.spec!.hostIPC).toBeUndefined();
    expect(out.spec!.volumes).toEqual([{ name: 'shimmy-video-frames', csi: { driver: 'shimmy.dev', volumeAttributes: { channel: 'video-frames' } } }]);
    for (const c of [...out.spec!.containers, ...out.spec!.initContainers!]) {
      expect(c.volumeMounts).toEqual([{ name: 'shimmy-video-frames', mountPath: '/var/run/shimmy/channels/video-frames' }]);
      const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
      expect(env.SHIMMY_CHANNEL_VIDEO_FRAMES_FILE).toBe('/var/run/shimmy/channels/video-frames/ring');
      expect(readInjectedChannel('video-frames', env).file).toBe('/var/run/shimmy/channels/video-frames/ring');
    }
    expect(out).toEqual(mutatePod(pod, m));
    expect(podPatch(out, m)).toEqual([]);
  });

  it("replaces a pod's own volume or mount that uses the channel's volume name, keeps its other volumes", () => {
    const pod = bare();
    pod.spec!.volumes = [
      { name: 'data', emptyDir: {} },
      { name: 'shimmy-video-frames', hostPath: { path: '/' } },
    ];
    pod.spec!.containers[0]!.volumeMounts = [{ name: 'shimmy-video-frames', mountPath: '/host' }];
    const out = apply(pod, podPatch(pod, m));
    expect(out.spec!.volumes).toEqual([{ name: 'data', emptyDir: {} }, podVolumesOf(m)[0]]);
    expect(out.spec!.containers[0]!.volumeMounts).toEqual([{ name: 'shimmy-video-frames', mountPath: '/var/run/shimmy/channels/video-frames' }]);
    expect(out).toEqual(mutatePod(pod, m));
  });

  it('gives hostIPC when any of the pod channels is a HostIPC one', () => {
    const out = apply(bare(), podPatch(bare(), { namespace: 'video', channels: [video, frames] }));
    expect(out.spec!.hostIPC).toBe(true);
    expect(out.spec!.volumes).toHaveLength(1);
  });

  it('keeps volume names DNS labels for the longest channel names, distinct per channel', () => {
    const a = 'a'.repeat(63);
    const b = `${'a'.repeat(62)}b`;
    expect(volumeName(a)).toHaveLength(63);
    expect(volumeName(a)).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(volumeName(a)).not.toBe(volumeName(b));
  });
});

describe('hardened HostIPC channels: groups', () => {
  const OWNER = 64500;
  const hardened = (name: string, group?: number) =>
    resolveChannel({ ...channel(name, { memory: 'HostIPC' }), ...(group !== undefined ? { status: { group } } : {}) }, OWNER);

  it("gives the pod each channel's group once, Strict supplementalGroupsPolicy and the annotation, as env OWNER names", () => {
    const m = { namespace: 'video', channels: [hardened('frames', 64602), hardened('boxes', 64601)] };
    const patched = apply(bare(), podPatch(bare(), m));
    expect(patched.spec!.securityContext).toEqual({ supplementalGroups: [64601, 64602], supplementalGroupsPolicy: 'Strict' });
    expect(patched.metadata!.annotations!['shimmy.dev/groups']).toBe('64601,64602');
    const env = Object.fromEntries(patched.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.SHIMMY_CHANNEL_FRAMES_OWNER).toBe('64500:64602');
    expect(readInjectedChannel('frames', env).owner).toEqual({ uid: OWNER, gid: 64602 });
    expect(patched).toEqual(mutatePod(bare(), m));
    expect(podPatch(patched, m)).toEqual([]);
  });

  it("appends to the pod's own groups and keeps its explicit policy", () => {
    const pod = bare();
    pod.spec!.securityContext = { runAsUser: 10001, supplementalGroups: [5, 64601], supplementalGroupsPolicy: 'Merge' };
    const m = { namespace: 'video', channels: [hardened('frames', 64602), hardened('boxes', 64601)] };
    const patched = apply(pod, podPatch(pod, m));
    expect(patched.spec!.securityContext).toEqual({ runAsUser: 10001, supplementalGroups: [5, 64601, 64602], supplementalGroupsPolicy: 'Merge' });
    expect(patched).toEqual(mutatePod(pod, m));
  });

  it('replaces a groups annotation the pod brought, and removes it when the channels give no group', () => {
    const pod = bare();
    pod.metadata!.annotations = { 'shimmy.dev/groups': '64601,64602,64603' };
    const given = apply(pod, podPatch(pod, { namespace: 'video', channels: [hardened('frames', 64602)] }));
    expect(given.metadata!.annotations!['shimmy.dev/groups']).toBe('64602');
    const none = apply(pod, podPatch(pod, { namespace: 'video', channels: [frames] }));
    expect(none.metadata!.annotations).not.toHaveProperty('shimmy.dev/groups');
    expect(none.spec!.securityContext).toBeUndefined();
    expect(mutatePod(pod, { namespace: 'video', channels: [frames] }).metadata!.annotations).not.toHaveProperty('shimmy.dev/groups');
  });

  it('marks a hardened channel without its group as awaiting one, and leaves unhardened and Volume channels alone', () => {
    expect(hardened('frames').awaitingGroup).toBe(true);
    expect(hardened('frames').owner).toBeUndefined();
    expect(hardened('frames', 64601).awaitingGroup).toBeUndefined();
    expect(resolveChannel({ ...channel('v'), status: { group: 64601 } }, OWNER)).not.toHaveProperty('owner');
    expect(resolveChannel({ ...channel('h', { memory: 'HostIPC' }), status: { group: 64601 } })).not.toHaveProperty('owner');
  });
});
