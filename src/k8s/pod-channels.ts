/**
 * The pod annotation that names a pod's channels: written by the webhook, read by the
 * placement index and the master. Both sides of it live here.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** Pod annotation the webhook writes: the channel names injected, comma-separated. */
export const CHANNELS_ANNOTATION = 'shimmy.dev/channels';

export function channelsAnnotation(names: readonly string[]): string {
  return names.join(',');
}

/**
 * Pod annotation the webhook owns: the groups of hardened HostIPC channels it gave the pod
 * (supplementalGroups), comma-separated. The pod policy allows a group of Shimmy's range only
 * when this lists it, and the webhook removes the annotation from any pod it did not give
 * those groups, so a pod cannot claim a channel's group by writing it.
 */
export const GROUPS_ANNOTATION = 'shimmy.dev/groups';

/** The channel names a patched pod carries (none for other pods). */
export function channelsOf(pod: V1Pod): string[] {
  const text = pod.metadata?.annotations?.[CHANNELS_ANNOTATION];
  return text
    ? text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}
