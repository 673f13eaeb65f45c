/**
 * Which channel a CLI command means by NAME. Inside a pod patched by the webhook, a NAME
 * listed in SHIMMY_CHANNELS is the injected channel: its namespace and uid come from the
 * SHIMMY_* environment (the System V key covers the uid), and the command waits (bounded)
 * for the node agent to make its segment: clients never make an injected channel's segment.
 * Everywhere else (no SHIMMY_CHANNELS, NAME not listed, or an explicit --namespace) NAME
 * is `<--namespace or "default">/NAME` and must exist already.
 */
import type { SegmentOwner } from '../shm/segment.js';
import { Channel } from '../channel/channel.js';
import type { ChannelRef } from '../channel/names.js';
import { readInjectedChannel } from '../client/env.js';

export const DEFAULT_NAMESPACE = 'default';

/** Help text for the -n/--namespace option of the commands that resolve NAME here. */
export const NAMESPACE_HELP = `namespace (default: SHIMMY_NAMESPACE when NAME is in SHIMMY_CHANNELS, else "${DEFAULT_NAMESPACE}")`;

export interface CliChannel {
  ref: ChannelRef;
  /** Where the identity came from: 'env' waits for the node agent's segment, 'flags' opens what exists. */
  source: 'env' | 'flags';
  /** The memory file the webhook named (a Volume channel), mapped instead of the System V segment. */
  file?: string;
  /** The uid:gid the webhook named for a hardened System V channel; the segment must belong to them. */
  owner?: SegmentOwner;
}

/** How long a command in a pod waits for the node agent to make the channel's segment. */
export const SEGMENT_WAIT_MS = 60_000;

/** True when SHIMMY_CHANNELS lists `name` (parsed as readInjectedChannel parses it). */
function injected(name: string, env: NodeJS.ProcessEnv): boolean {
  const list = env.SHIMMY_CHANNELS;
  return (
    list !== undefined &&
    list !== '' &&
    list
      .split(',')
      .map((s) => s.trim())
      .includes(name)
  );
}

/**
 * Resolves NAME and the --namespace flag (undefined when not given on the command line).
 * Throws readInjectedChannel's ShimmyError (MISSING_ENV, INVALID_ENV, ...) when NAME is
 * injected but the rest of its environment is missing or wrong.
 */
export function resolveCliChannel(name: string, namespace: string | undefined, env: NodeJS.ProcessEnv = process.env): CliChannel {
  if (namespace === undefined && injected(name, env)) {
    const ch = readInjectedChannel(name, env);
    const ref: ChannelRef = ch.uid ? { namespace: ch.namespace, name: ch.name, uid: ch.uid } : { namespace: ch.namespace, name: ch.name };
    return { ref, source: 'env', ...(ch.file ? { file: ch.file } : {}), ...(ch.owner ? { owner: ch.owner } : {}) };
  }
  return { ref: { namespace: namespace ?? DEFAULT_NAMESPACE, name }, source: 'flags' };
}

/** The hint when an injected channel's segment does not appear: the agent makes it. */
export function agentHint(ref: ChannelRef): string {
  return (
    "The Shimmy node agent makes it once the pod is on a node: check that node's agent " +
    "(kubectl get pods -A -l app.kubernetes.io/component=agent -o wide) and the channel's endpoint " +
    `(kubectl -n ${ref.namespace} get channelendpoints -l shimmy.dev/channel=${ref.name})`
  );
}

/** Attaches to the resolved channel; an injected one waits up to `waitMs` for its segment. */
export async function openCliChannel(ch: CliChannel, waitMs = SEGMENT_WAIT_MS, signal?: AbortSignal): Promise<Channel> {
  if (ch.source === 'flags') return Channel.open(ch.ref);
  return Channel.openWhenPresent(ch.ref, {
    timeoutMs: waitMs,
    hint: agentHint(ch.ref),
    ...(ch.file ? { file: ch.file } : {}),
    ...(ch.owner ? { owner: ch.owner } : {}),
    ...(signal ? { signal } : {}),
  });
}

/** `ns/name`, as the commands print it. */
export function describeRef(ref: ChannelRef): string {
  return `${ref.namespace}/${ref.name}`;
}
