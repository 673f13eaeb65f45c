/**
 * The pod mutation: what a pod on Shimmy channels needs, as an RFC 6902 patch. The
 * operations are built directly from the pod (one pass, no copy of it): parents that are
 * absent (env, annotations, labels) are added whole, "/" and "~" in keys are escaped, and a
 * pod that already has everything yields no operation (the webhook is reinvoked with
 * reinvocationPolicy: IfNeeded). `mutatePod` is the same mutation applied to a copy.
 */
import type { Operation } from 'fast-json-patch';
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import type { ResolvedChannel } from '../k8s/channel-spec.js';
import { CHANNELS_ANNOTATION, channelsAnnotation } from '../k8s/pod-channels.js';
import { INJECTED_LABEL } from '../k8s/types.js';

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

/** The pod as it should be; `pod` itself is not modified. */
export function mutatePod(pod: V1Pod, m: PodMutation): V1Pod {
  const out = structuredClone(pod);
  const spec = out.spec!;
  spec.hostIPC = true;
  const vars = podEnv(m);
  for (const c of spec.containers ?? []) setEnv(c, vars);
  for (const c of spec.initContainers ?? []) setEnv(c, vars);
  out.metadata ??= {};
  out.metadata.annotations = { ...out.metadata.annotations, [CHANNELS_ANNOTATION]: channelsAnnotation(m.channels.map((c) => c.name)) };
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

function mapOps(map: Record<string, string> | undefined, path: string, key: string, value: string, ops: Operation[]): void {
  if (!map) ops.push({ op: 'add', path, value: { [key]: value } });
  else if (map[key] !== value) ops.push({ op: 'add', path: `${path}/${escapeKey(key)}`, value });
}

/** The operations that turn `pod` into `mutatePod(pod, m)`. */
export function podPatch(pod: V1Pod, m: PodMutation): Operation[] {
  const ops: Operation[] = [];
  const spec = pod.spec!;
  if (spec.hostIPC !== true) ops.push({ op: 'add', path: '/spec/hostIPC', value: true });
  const vars = podEnv(m);
  envOps(spec.containers, '/spec/containers', vars, ops);
  envOps(spec.initContainers, '/spec/initContainers', vars, ops);
  if (!pod.metadata) ops.push({ op: 'add', path: '/metadata', value: {} });
  mapOps(pod.metadata?.annotations, '/metadata/annotations', CHANNELS_ANNOTATION, channelsAnnotation(m.channels.map((c) => c.name)), ops);
  mapOps(pod.metadata?.labels, '/metadata/labels', INJECTED_LABEL, 'true', ops);
  const scheduler = schedulerFor(spec, m);
  if (scheduler) ops.push({ op: 'add', path: '/spec/schedulerName', value: scheduler });
  return ops;
}
