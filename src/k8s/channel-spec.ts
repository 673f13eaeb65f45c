/** Turns a SharedMemoryChannel into the data plane's settings: key, env vars, config. */
import { channelKey } from '../channel/names.js';
import { envFor, type InjectedChannel } from '../client/env.js';
import { formatKey } from '../shm/segment.js';
import { parseQuantity } from './quantity.js';
import { DEFAULTS, type SharedMemoryChannel } from './types.js';

export interface ResolvedChannel extends InjectedChannel {
  keyText: string;
  env: Record<string, string>;
}

export function resolveChannel(channel: SharedMemoryChannel): ResolvedChannel {
  const { namespace, name, uid } = channel.metadata;
  if (!namespace || !name) throw new Error('channel has no namespace or name');
  const spec = channel.spec ?? {};
  const ref = uid ? { namespace, name, uid } : { namespace, name };
  const key = channelKey(ref);
  const injected: InjectedChannel = {
    ...ref,
    key,
    config: {
      mode: (spec.mode ?? DEFAULTS.mode) === 'Stream' ? 'stream' : 'pubsub',
      capacity: parseQuantity(spec.capacity ?? DEFAULTS.capacity, 'capacity'),
      maxMessage: parseQuantity(spec.maxMessageSize ?? DEFAULTS.maxMessageSize, 'maxMessageSize'),
      slowConsumer: (spec.slowConsumer ?? DEFAULTS.slowConsumer) === 'Overwrite' ? 'overwrite' : 'block',
    },
  };
  return { ...injected, keyText: formatKey(key), env: envFor(injected) };
}
