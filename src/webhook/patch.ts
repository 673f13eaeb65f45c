/**
 * The pod mutation: what a pod on Shimmy channels needs, as an RFC 6902 patch. The
 * mutation is applied to a copy and fast-json-patch's compare() writes the operations,
 * so parents that are absent (env, annotations) are added whole, "/" and "~" in keys are
 * escaped, and a pod that already has everything yields no operation (the webhook is
 * reinvoked with reinvocationPolicy: IfNeeded).
 */
import fastJsonPatch from 'fast-json-patch';
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

function setEnv(container: V1Container, vars: readonly V1EnvVar[]): void {
  const env = container.env ?? [];
  for (const v of vars) {
    const existing = env.find((e) => e.name === v.name);
    if (!existing) env.push({ ...v });
    else if (existing.value !== v.value || existing.valueFrom) {
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
  if (m.schedulerName && (spec.schedulerName === undefined || spec.schedulerName === DEFAULT_SCHEDULER)) spec.schedulerName = m.schedulerName;
  return out;
}

export function podPatch(pod: V1Pod, m: PodMutation): Operation[] {
  return fastJsonPatch.compare(pod, mutatePod(pod, m));
}
