/**
 * Which channel a CLI command means by NAME. Inside a pod patched by the webhook, a NAME
 * listed in SHIMMY_CHANNELS is the injected channel: its namespace and uid come from the
 * SHIMMY_* environment (the System V key covers the uid), and, as no node agent creates
 * segments yet, the command creates the segment with the injected settings when absent.
 * Everywhere else (no SHIMMY_CHANNELS, NAME not listed, or an explicit --namespace) NAME
 * is `<--namespace or "default">/NAME` and must exist already.
 */
import { Channel, type CreateOptions } from '../channel/channel.js';
import type { ChannelRef } from '../channel/names.js';
import { readInjectedChannel } from '../client/env.js';

export const DEFAULT_NAMESPACE = 'default';

/** Help text for the -n/--namespace option of the commands that resolve NAME here. */
export const NAMESPACE_HELP = `namespace (default: SHIMMY_NAMESPACE when NAME is in SHIMMY_CHANNELS, else "${DEFAULT_NAMESPACE}")`;

export interface CliChannel {
  ref: ChannelRef;
  /** Settings to create the segment with when absent; undefined: open only. */
  create?: CreateOptions;
  /** Where the identity came from. */
  source: 'env' | 'flags';
}

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
    return { ref, create: { ...ch.config }, source: 'env' };
  }
  return { ref: { namespace: namespace ?? DEFAULT_NAMESPACE, name }, source: 'flags' };
}

/** Attaches to the resolved channel, creating it first when it came from the environment. */
export function openCliChannel(ch: CliChannel): Channel {
  return ch.create ? Channel.openOrCreate(ch.ref, ch.create) : Channel.open(ch.ref);
}

/** `ns/name`, as the commands print it. */
export function describeRef(ref: ChannelRef): string {
  return `${ref.namespace}/${ref.name}`;
}
