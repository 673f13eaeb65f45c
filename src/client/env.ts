/**
 * The SHIMMY_* environment contract between the admission webhook (which injects it) and
 * the client library (which reads it). This module is the only reader of process.env in
 * the client.
 *
 *   SHIMMY_NAMESPACE                 namespace of the pod's channels
 *   SHIMMY_CHANNELS                  comma-separated channel names injected into this pod
 *   SHIMMY_CHANNEL_<ID>_KEY          System V key, hex (0x...)
 *   SHIMMY_CHANNEL_<ID>_UID          SharedMemoryChannel uid (part of the identity)
 *   SHIMMY_CHANNEL_<ID>_MODE         pubsub | stream
 *   SHIMMY_CHANNEL_<ID>_CAPACITY     ring bytes
 *   SHIMMY_CHANNEL_<ID>_MAX_MESSAGE  largest message in bytes
 *   SHIMMY_CHANNEL_<ID>_SLOW_CONSUMER block | overwrite
 *   SHIMMY_CHANNEL_<ID>_FILE         absolute path of the channel's memory file (the mode
 *                                    without hostIPC); absent: the System V key is used
 *   SHIMMY_CHANNEL_<ID>_OWNER        uid:gid a hardened System V segment must belong to
 *                                    (the agent's segment owner, the channel's group)
 * <ID> is the channel name upper-cased with "-" turned into "_" (names are DNS labels, so
 * this is one-to-one).
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { Mode, SlowConsumer, type ChannelConfig, type ModeName, type SlowConsumerName } from '../channel/layout.js';
import { channelKey, validateName, type ChannelRef } from '../channel/names.js';
import { formatKey, MAX_ID, type SegmentOwner } from '../shm/segment.js';
import { parseSize } from '../size.js';

export interface InjectedChannel extends ChannelRef {
  key: number;
  /** The memory file to map instead of the System V segment. */
  file?: string;
  /** A hardened System V channel: the segment's required owner and group. */
  owner?: SegmentOwner;
  config: Omit<ChannelConfig, 'maxParticipants'>;
}

export function envId(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

export function channelEnvVar(name: string, field: 'KEY' | 'UID' | 'MODE' | 'CAPACITY' | 'MAX_MESSAGE' | 'SLOW_CONSUMER' | 'FILE' | 'OWNER'): string {
  return `SHIMMY_CHANNEL_${envId(name)}_${field}`;
}

/** The variables the webhook injects for one channel (also used by tests and the demo). */
export function envFor(channel: InjectedChannel): Record<string, string> {
  const c = channel.config;
  return {
    [channelEnvVar(channel.name, 'KEY')]: formatKey(channel.key),
    [channelEnvVar(channel.name, 'UID')]: channel.uid ?? '',
    [channelEnvVar(channel.name, 'MODE')]: c.mode,
    [channelEnvVar(channel.name, 'CAPACITY')]: String(c.capacity),
    [channelEnvVar(channel.name, 'MAX_MESSAGE')]: String(c.maxMessage),
    [channelEnvVar(channel.name, 'SLOW_CONSUMER')]: c.slowConsumer,
    ...(channel.file ? { [channelEnvVar(channel.name, 'FILE')]: channel.file } : {}),
    ...(channel.owner ? { [channelEnvVar(channel.name, 'OWNER')]: `${channel.owner.uid}:${channel.owner.gid}` } : {}),
  };
}

function need(env: NodeJS.ProcessEnv, variable: string, name: string): string {
  const v = env[variable];
  if (v === undefined || v === '') {
    throw new ShimmyError(
      ErrorCode.MISSING_ENV,
      `${variable} is not set, so channel ${JSON.stringify(name)} cannot be opened from the environment`,
      'Label the pod for the channel so the Shimmy webhook injects it, or call openChannel({ namespace, name }) with explicit options',
    );
  }
  return v;
}

function oneOf<T extends string>(variable: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ShimmyError(
      ErrorCode.INVALID_ENV,
      `${variable}=${JSON.stringify(value)} is not one of ${allowed.join(', ')}`,
      'Fix or remove the variable; the webhook sets it correctly',
    );
  }
  return value as T;
}

/** Reads one channel's injected settings; every problem names the variable at fault. */
export function readInjectedChannel(name: string, env: NodeJS.ProcessEnv = process.env): InjectedChannel {
  validateName('channel name', name);
  const listed = need(env, 'SHIMMY_CHANNELS', name)
    .split(',')
    .map((s) => s.trim());
  if (!listed.includes(name)) {
    throw new ShimmyError(
      ErrorCode.MISSING_ENV,
      `Channel ${JSON.stringify(name)} is not in SHIMMY_CHANNELS (${listed.join(', ')})`,
      "Add the pod's labels to the channel's selector, or open one of the listed channels",
    );
  }
  const namespace = need(env, 'SHIMMY_NAMESPACE', name);
  validateName('namespace', namespace);
  const keyVar = channelEnvVar(name, 'KEY');
  const keyText = need(env, keyVar, name);
  if (!/^0x[0-9a-fA-F]{1,8}$/.test(keyText))
    throw new ShimmyError(ErrorCode.INVALID_ENV, `${keyVar}=${JSON.stringify(keyText)} is not a hex key like 0x1a2b3c4d`, 'Fix or remove the variable');
  const uid = env[channelEnvVar(name, 'UID')] || undefined;
  const ref: ChannelRef = uid ? { namespace, name, uid } : { namespace, name };
  const key = Number.parseInt(keyText, 16) | 0;
  if (key !== channelKey(ref)) {
    throw new ShimmyError(
      ErrorCode.INVALID_ENV,
      `${keyVar}=${keyText} does not match channel ${namespace}/${name} (expected ${formatKey(channelKey(ref))})`,
      'The environment is stale or hand-edited; recreate the pod',
    );
  }
  const sizeOf = (field: 'CAPACITY' | 'MAX_MESSAGE') => {
    const variable = channelEnvVar(name, field);
    try {
      return parseSize(need(env, variable, name), variable);
    } catch (err) {
      if (err instanceof ShimmyError && err.code === ErrorCode.INVALID_SIZE)
        throw new ShimmyError(ErrorCode.INVALID_ENV, err.message, 'Fix or remove the variable');
      throw err;
    }
  };
  const fileVar = channelEnvVar(name, 'FILE');
  const file = env[fileVar] || undefined;
  if (file !== undefined && (!file.startsWith('/') || file.includes('\0') || file.split('/').includes('..'))) {
    throw new ShimmyError(
      ErrorCode.INVALID_ENV,
      `${fileVar}=${JSON.stringify(file)} is not an absolute path without ".."`,
      'Fix or remove the variable; the webhook sets it correctly',
    );
  }
  const ownerVar = channelEnvVar(name, 'OWNER');
  const ownerText = env[ownerVar] || undefined;
  const ownerMatch = ownerText === undefined ? undefined : /^(\d{1,10}):(\d{1,10})$/.exec(ownerText);
  if (ownerMatch === null || (ownerMatch && (Number(ownerMatch[1]) > MAX_ID || Number(ownerMatch[2]) > MAX_ID))) {
    throw new ShimmyError(
      ErrorCode.INVALID_ENV,
      `${ownerVar}=${JSON.stringify(ownerText)} is not uid:gid (two numbers up to ${MAX_ID})`,
      'Fix or remove the variable; the webhook sets it correctly',
    );
  }
  return {
    ...ref,
    key,
    ...(file ? { file } : {}),
    ...(ownerMatch ? { owner: { uid: Number(ownerMatch[1]), gid: Number(ownerMatch[2]) } } : {}),
    config: {
      mode: oneOf<ModeName>(channelEnvVar(name, 'MODE'), need(env, channelEnvVar(name, 'MODE'), name), Object.keys(Mode) as ModeName[]),
      capacity: sizeOf('CAPACITY'),
      maxMessage: sizeOf('MAX_MESSAGE'),
      slowConsumer: oneOf<SlowConsumerName>(
        channelEnvVar(name, 'SLOW_CONSUMER'),
        need(env, channelEnvVar(name, 'SLOW_CONSUMER'), name),
        Object.keys(SlowConsumer) as SlowConsumerName[],
      ),
    },
  };
}
