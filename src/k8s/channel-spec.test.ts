import { describe, expect, it } from 'vitest';
import { channelKey } from '../channel/names.js';
import { envFor } from '../client/env.js';
import { ErrorCode, type ShimmyError } from '../errors.js';
import { formatKey } from '../shm/segment.js';
import { resolveChannel } from './channel-spec.js';
import type { SharedMemoryChannel, SharedMemoryChannelSpec } from './types.js';

const channel = (spec: Partial<SharedMemoryChannelSpec> = {}, metadata: SharedMemoryChannel['metadata'] = { namespace: 'ns', name: 'c', uid: 'u' }) =>
  ({ metadata, spec: { selector: { matchLabels: { a: 'b' } }, ...spec } }) as SharedMemoryChannel;

function failure(ch: SharedMemoryChannel): ShimmyError {
  try {
    resolveChannel(ch);
  } catch (err) {
    return err as ShimmyError;
  }
  throw new Error('expected resolveChannel to throw');
}

describe('resolveChannel', () => {
  it('applies the defaults: PubSub, 4Mi ring, 1Mi messages, Block, memory in a Volume', () => {
    const r = resolveChannel(channel());
    expect(r.config).toEqual({ mode: 'pubsub', capacity: 4 * 2 ** 20, maxMessage: 2 ** 20, slowConsumer: 'block' });
    expect(r.key).toBe(channelKey({ namespace: 'ns', name: 'c', uid: 'u' }));
    expect(r.keyText).toBe(formatKey(r.key));
    expect(r.memory).toBe('Volume');
    expect(r.file).toBe('/var/run/shimmy/channels/c/ring');
    expect(r.env).toEqual(envFor({ namespace: 'ns', name: 'c', uid: 'u', key: r.key, file: r.file, config: r.config }));
    expect(resolveChannel(channel({ memory: 'HostIPC' })).file).toBeUndefined();
  });

  it('resolves a channel without a uid to a ref without one', () => {
    const r = resolveChannel(channel({}, { namespace: 'ns', name: 'c' }));
    expect(r.namespace).toBe('ns');
    expect(r.name).toBe('c');
    expect('uid' in r).toBe(false);
    expect(r.key).toBe(channelKey({ namespace: 'ns', name: 'c' }));
  });

  it('refuses a channel missing its namespace or its name, with INVALID_ARGUMENT', () => {
    for (const metadata of [{ name: 'c' }, { namespace: 'ns' }, { namespace: '', name: 'c' }, {}]) {
      const err = failure(channel({}, metadata));
      expect(err.code, JSON.stringify(metadata)).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toBe('A SharedMemoryChannel without a namespace or name. Only channels read from the API server can be resolved');
    }
  });

  it('refuses a zero capacity or message size, naming the field and the value', () => {
    const zeroCapacity = failure(channel({ capacity: 0 }));
    expect(zeroCapacity.code).toBe(ErrorCode.INVALID_SIZE);
    expect(zeroCapacity.message).toBe('capacity 0 is not a positive number of bytes. Use bytes or a quantity such as 64Ki, 4Mi, 1Gi');
    const zeroMessage = failure(channel({ maxMessageSize: '0Mi' }));
    expect(zeroMessage.code).toBe(ErrorCode.INVALID_SIZE);
    expect(zeroMessage.message).toBe('maxMessageSize "0Mi" is not a positive number of bytes. Use bytes or a quantity such as 64Ki, 4Mi, 1Gi');
  });

  it('accepts one byte as the smallest size', () => {
    expect(resolveChannel(channel({ capacity: 1, maxMessageSize: '1' })).config).toMatchObject({ capacity: 1, maxMessage: 1 });
  });

  it('names the field of an unreadable size', () => {
    expect(() => resolveChannel(channel({ capacity: 'lots' }))).toThrowError(/^Invalid capacity "lots"/);
    expect(() => resolveChannel(channel({ maxMessageSize: '4MB' }))).toThrowError(/^Invalid maxMessageSize "4MB"/);
  });
});
