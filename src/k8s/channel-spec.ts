/** Turns a SharedMemoryChannel into the data plane's settings: key, env vars, config. */
import { channelKey } from '../channel/names.js';
import { envFor, type InjectedChannel } from '../client/env.js';
import { formatKey } from '../shm/segment.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { parseSize } from '../size.js';
import { DEFAULTS, type MemoryKind, type SharedMemoryChannel } from './types.js';

/** Where a Volume channel's directory is mounted in the pod's containers. */
export const POD_CHANNELS_DIR = '/var/run/shimmy/channels';
/** The memory file's name in a channel's directory, on the node and in the pod. */
export const MEMORY_FILE_NAME = 'ring';

export interface ResolvedChannel extends InjectedChannel {
  keyText: string;
  memory: MemoryKind;
  env: Record<string, string>;
  /** Hardened HostIPC, and the controller has not given the channel its group yet: no pod can use it. */
  awaitingGroup?: boolean;
}

export const podChannelDir = (name: string) => `${POD_CHANNELS_DIR}/${name}`;

/** A positive byte quantity, read as the CLI reads sizes (src/size.ts). */
function quantity(value: string | number, field: string): number {
  const bytes = parseSize(value, field);
  if (bytes <= 0)
    throw new ShimmyError(
      ErrorCode.INVALID_SIZE,
      `${field} ${JSON.stringify(value)} is not a positive number of bytes`,
      'Use bytes or a quantity such as 64Ki, 4Mi, 1Gi',
    );
  return bytes;
}

/**
 * The channel's data-plane settings. With `segmentOwner` (hardened HostIPC), a HostIPC
 * channel's segment belongs to that uid and to the channel's group (status.group).
 */
export function resolveChannel(channel: SharedMemoryChannel, segmentOwner?: number): ResolvedChannel {
  const { namespace, name, uid } = channel.metadata;
  if (!namespace || !name)
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      'A SharedMemoryChannel without a namespace or name',
      'Only channels read from the API server can be resolved',
    );
  const spec = channel.spec ?? {};
  const ref = uid ? { namespace, name, uid } : { namespace, name };
  const key = channelKey(ref);
  const memory: MemoryKind = (spec.memory ?? DEFAULTS.memory) === 'HostIPC' ? 'HostIPC' : 'Volume';
  const hardened = memory === 'HostIPC' && segmentOwner !== undefined;
  const group = channel.status?.group;
  const injected: InjectedChannel = {
    ...ref,
    key,
    ...(memory === 'Volume' ? { file: `${podChannelDir(name)}/${MEMORY_FILE_NAME}` } : {}),
    ...(hardened && group !== undefined ? { owner: { uid: segmentOwner, gid: group } } : {}),
    config: {
      mode: (spec.mode ?? DEFAULTS.mode) === 'Stream' ? 'stream' : 'pubsub',
      capacity: quantity(spec.capacity ?? DEFAULTS.capacity, 'capacity'),
      maxMessage: quantity(spec.maxMessageSize ?? DEFAULTS.maxMessageSize, 'maxMessageSize'),
      slowConsumer: (spec.slowConsumer ?? DEFAULTS.slowConsumer) === 'Overwrite' ? 'overwrite' : 'block',
    },
  };
  return { ...injected, keyText: formatKey(key), memory, env: envFor(injected), ...(hardened && group === undefined ? { awaitingGroup: true } : {}) };
}
