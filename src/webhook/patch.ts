/**
 * The pod mutation: what a pod on Shimmy channels needs, as an RFC 6902 patch. The
 * operations are built directly from the pod (one pass, no copy of it): parents that are
 * absent (env, annotations, labels) are added whole, "/" and "~" in keys are escaped, and a
 * pod that already has everything yields no operation (the webhook is reinvoked with
 * reinvocationPolicy: IfNeeded). `mutatePod` is the same mutation applied to a copy.
 */
import type { Operation } from 'fast-json-patch';
import type { V1Container, V1EnvVar, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { fnv1a } from '../channel/names.js';
import { podChannelDir, type ResolvedChannel } from '../k8s/channel-spec.js';
import { CHANNELS_ANNOTATION, GROUPS_ANNOTATION, channelsAnnotation } from '../k8s/pod-channels.js';
import { CSI_CHANNEL_ATTRIBUTE, CSI_DRIVER, INJECTED_LABEL } from '../k8s/types.js';

export const DEFAULT_SCHEDULER = 'default-scheduler';

export interface PodMutation {
  namespace: string;
  channels: readonly ResolvedChannel[];
  /** Set when the shimmy-scheduler profile is in use; replaces the default scheduler only. */
  schedulerName?: string;
}

export function podEnv(m: PodMutation): V1EnvVar[] {
  const vars: V1EnvVar[] = [
    { name: 'SHIMMY_NAMESPACE', value: m.namespace },
    { name: 'SHIMMY_CHANNELS', value: m.channels.map((c) => c.name).join(',') },
  ];
  for (const channel of m.channels) {
    for (const [name, value] of Object.entries(channel.env)) vars.push({ name, value });
  }
  return vars;
}

/** The pod's volume for a Volume channel: a DNS label, `shimmy-<channel>`, shortened with a hash when that is too long. */
export function volumeName(channel: string): string {
  const name = `shimmy-${channel}`;
  return name.length <= 63 ? name : `shimmy-${channel.slice(0, 47)}-${(fnv1a(channel) >>> 0).toString(16).padStart(8, '0')}`;
}

const volumeChannels = (m: PodMutation) => m.channels.filter((c) => c.memory === 'Volume');

/** The groups of the pod's hardened HostIPC channels, sorted: they go into supplementalGroups. */
export const podGroups = (m: PodMutation): number[] => [...new Set(m.channels.flatMap((c) => (c.owner ? [c.owner.gid] : [])))].sort((a, b) => a - b);

/** hostIPC only when some channel keeps its memory in System V. */
export const needsHostIPC = (m: PodMutation): boolean => m.channels.some((c) => c.memory === 'HostIPC');

export function podVolumes(m: PodMutation): V1Volume[] {
  return volumeChannels(m).map((c) => ({
    name: volumeName(c.name),
    csi: { driver: CSI_DRIVER, volumeAttributes: { [CSI_CHANNEL_ATTRIBUTE]: c.name } },
  }));
}

export function podVolumeMounts(m: PodMutation): V1VolumeMount[] {
  return volumeChannels(m).map((c) => ({ name: volumeName(c.name), mountPath: podChannelDir(c.name) }));
}

/** Ours, or someone's entry under our name: it must be exactly ours. */
const differs = (have: object, want: object): boolean => JSON.stringify(have) !== JSON.stringify(want);

/** A variable the pod already has that must be set to `want` (another value, or valueFrom). */
const stale = (have: V1EnvVar, want: V1EnvVar): boolean => have.value !== want.value || !!have.valueFrom;

/** The schedulerName the pod should get, if any: ours replaces the default scheduler only. */
function schedulerFor(spec: V1Pod['spec'], m: PodMutation): string | undefined {
  if (!m.schedulerName || spec!.schedulerName === m.schedulerName) return undefined;
  return spec!.schedulerName === undefined || spec!.schedulerName === DEFAULT_SCHEDULER ? m.schedulerName : undefined;
}

function setEnv(container: V1Container, vars: readonly V1EnvVar[]): void {
  const env = container.env ?? [];
  for (const v of vars) {
    const existing = env.find((e) => e.name === v.name);
    if (!existing) env.push({ ...v });
    else if (stale(existing, v)) {
      existing.value = v.value;
      delete existing.valueFrom;
    }
  }
  container.env = env;
}

function setNamed<T extends { name: string }>(list: T[], wanted: readonly T[]): T[] {
  for (const w of wanted) {
    const at = list.findIndex((e) => e.name === w.name);
    if (at < 0) list.push(structuredClone(w));
    else if (differs(list[at]!, w)) list[at] = structuredClone(w);
  }
  return list;
}

/** The pod as it should be; `pod` itself is not modified. */
export function mutatePod(pod: V1Pod, m: PodMutation): V1Pod {
  const out = structuredClone(pod);
  const spec = out.spec!;
  if (needsHostIPC(m)) spec.hostIPC = true;
  const groups = podGroups(m);
  if (groups.length) {
    spec.securityContext ??= {};
    const have = (spec.securityContext.supplementalGroups ??= []);
    for (const g of groups) if (!have.includes(g)) have.push(g);
    spec.securityContext.supplementalGroupsPolicy ??= 'Strict';
  }
  const vars = podEnv(m);
  const volumes = podVolumes(m);
  const mounts = podVolumeMounts(m);
  if (volumes.length) spec.volumes = setNamed(spec.volumes ?? [], volumes);
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    setEnv(c, vars);
    if (mounts.length) c.volumeMounts = setNamed(c.volumeMounts ?? [], mounts);
  }
  out.metadata ??= {};
  out.metadata.annotations = { ...out.metadata.annotations, [CHANNELS_ANNOTATION]: channelsAnnotation(m.channels.map((c) => c.name)) };
  if (groups.length) out.metadata.annotations[GROUPS_ANNOTATION] = groups.join(',');
  else delete out.metadata.annotations[GROUPS_ANNOTATION];
  out.metadata.labels = { ...out.metadata.labels, [INJECTED_LABEL]: 'true' };
  const scheduler = schedulerFor(spec, m);
  if (scheduler) spec.schedulerName = scheduler;
  return out;
}

/** RFC 6901: "~" and "/" in a key. */
const escapeKey = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

function envOps(containers: readonly V1Container[] | undefined, base: string, vars: readonly V1EnvVar[], ops: Operation[]): void {
  for (const [i, container] of (containers ?? []).entries()) {
    const env = container.env;
    if (!env) {
      ops.push({ op: 'add', path: `${base}/${i}/env`, value: vars.map((v) => ({ ...v })) });
      continue;
    }
    for (const v of vars) {
      const at = env.findIndex((e) => e.name === v.name);
      if (at < 0) ops.push({ op: 'add', path: `${base}/${i}/env/-`, value: { ...v } });
      else if (stale(env[at]!, v)) ops.push({ op: 'replace', path: `${base}/${i}/env/${at}`, value: { ...v } });
    }
  }
}

/** Operations that make `list` (at `path`) hold each of `wanted` exactly, by name. */
function namedOps<T extends { name: string }>(list: readonly T[] | undefined, path: string, wanted: readonly T[], ops: Operation[]): void {
  if (wanted.length === 0) return;
  if (!list) {
    ops.push({ op: 'add', path, value: wanted.map((w) => structuredClone(w)) });
    return;
  }
  for (const w of wanted) {
    const at = list.findIndex((e) => e.name === w.name);
    if (at < 0) ops.push({ op: 'add', path: `${path}/-`, value: structuredClone(w) });
    else if (differs(list[at]!, w)) ops.push({ op: 'replace', path: `${path}/${at}`, value: structuredClone(w) });
  }
}

function mapOps(map: Record<string, string> | undefined, path: string, key: string, value: string, ops: Operation[]): void {
  if (!map) ops.push({ op: 'add', path, value: { [key]: value } });
  else if (map[key] !== value) ops.push({ op: 'add', path: `${path}/${escapeKey(key)}`, value });
}

/**
 * Adds the groups the pod lacks to its supplementalGroups, and supplementalGroupsPolicy
 * Strict when it has no policy (the image's /etc/group must add no channel's group).
 */
function groupOps(spec: NonNullable<V1Pod['spec']>, groups: readonly number[], ops: Operation[]): void {
  if (groups.length === 0) return;
  const sc = spec.securityContext;
  if (!sc) {
    ops.push({ op: 'add', path: '/spec/securityContext', value: { supplementalGroups: [...groups], supplementalGroupsPolicy: 'Strict' } });
    return;
  }
  if (!sc.supplementalGroups) ops.push({ op: 'add', path: '/spec/securityContext/supplementalGroups', value: [...groups] });
  else for (const g of groups) if (!sc.supplementalGroups.includes(g)) ops.push({ op: 'add', path: '/spec/securityContext/supplementalGroups/-', value: g });
  if (sc.supplementalGroupsPolicy === undefined) ops.push({ op: 'add', path: '/spec/securityContext/supplementalGroupsPolicy', value: 'Strict' });
}

/** A groups annotation the webhook did not write (a pod given no groups) is removed. */
export function removeGroupsAnnotation(pod: V1Pod): Operation[] {
  return pod.metadata?.annotations?.[GROUPS_ANNOTATION] === undefined ? [] : [{ op: 'remove', path: `/metadata/annotations/${escapeKey(GROUPS_ANNOTATION)}` }];
}

/** The operations that turn `pod` into `mutatePod(pod, m)`. */
export function podPatch(pod: V1Pod, m: PodMutation): Operation[] {
  const ops: Operation[] = [];
  const spec = pod.spec!;
  if (needsHostIPC(m) && spec.hostIPC !== true) ops.push({ op: 'add', path: '/spec/hostIPC', value: true });
  const groups = podGroups(m);
  groupOps(spec, groups, ops);
  const vars = podEnv(m);
  envOps(spec.containers, '/spec/containers', vars, ops);
  envOps(spec.initContainers, '/spec/initContainers', vars, ops);
  namedOps(spec.volumes, '/spec/volumes', podVolumes(m), ops);
  const mounts = podVolumeMounts(m);
  for (const [base, list] of [
    ['/spec/containers', spec.containers],
    ['/spec/initContainers', spec.initContainers],
  ] as const) {
    for (const [i, c] of (list ?? []).entries()) namedOps(c.volumeMounts, `${base}/${i}/volumeMounts`, mounts, ops);
  }
  if (!pod.metadata) ops.push({ op: 'add', path: '/metadata', value: {} });
  const annotations = pod.metadata?.annotations;
  const wanted: Record<string, string> = {
    [CHANNELS_ANNOTATION]: channelsAnnotation(m.channels.map((c) => c.name)),
    ...(groups.length ? { [GROUPS_ANNOTATION]: groups.join(',') } : {}),
  };
  if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: wanted });
  else {
    for (const [key, value] of Object.entries(wanted)) mapOps(annotations, '/metadata/annotations', key, value, ops);
    if (!groups.length) ops.push(...removeGroupsAnnotation(pod));
  }
  mapOps(pod.metadata?.labels, '/metadata/labels', INJECTED_LABEL, 'true', ops);
  const scheduler = schedulerFor(spec, m);
  if (scheduler) ops.push({ op: 'add', path: '/spec/schedulerName', value: scheduler });
  return ops;
}
