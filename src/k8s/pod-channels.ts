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
