/** Turns a SharedMemoryChannel into the data plane's settings: key, env vars, config. */
import { channelKey } from '../channel/names.js';
import { envFor, type InjectedChannel } from '../client/env.js';
import { formatKey } from '../shm/segment.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { parseSize } from '../size.js';
import { DEFAULTS, type SharedMemoryChannel } from './types.js';

export interface ResolvedChannel extends InjectedChannel {
  keyText: string;
  env: Record<string, string>;
}

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

export function resolveChannel(channel: SharedMemoryChannel): ResolvedChannel {
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
  const injected: InjectedChannel = {
    ...ref,
    key,
    config: {
      mode: (spec.mode ?? DEFAULTS.mode) === 'Stream' ? 'stream' : 'pubsub',
      capacity: quantity(spec.capacity ?? DEFAULTS.capacity, 'capacity'),
      maxMessage: quantity(spec.maxMessageSize ?? DEFAULTS.maxMessageSize, 'maxMessageSize'),
      slowConsumer: (spec.slowConsumer ?? DEFAULTS.slowConsumer) === 'Overwrite' ? 'overwrite' : 'block',
    },
  };
  return { ...injected, keyText: formatKey(key), env: envFor(injected) };
}
