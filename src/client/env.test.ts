import { describe, expect, it } from 'vitest';
import { channelKey } from '../channel/names.js';
import { envFor, readInjectedChannel } from './env.js';

const ref = { namespace: 'pipeline', name: 'raw-frames', uid: '5f1c' };
const config = { mode: 'pubsub' as const, capacity: 1 << 20, maxMessage: 65536, slowConsumer: 'overwrite' as const };
const env: Record<string, string> = { SHIMMY_NAMESPACE: 'pipeline', SHIMMY_CHANNELS: 'raw-frames', ...envFor({ ...ref, key: channelKey(ref), config }) };

describe('readInjectedChannel', () => {
  it('round-trips what envFor injects', () => {
    expect(env.SHIMMY_CHANNEL_RAW_FRAMES_KEY).toMatch(/^0x[0-9a-f]{8}$/);
    expect(readInjectedChannel('raw-frames', env)).toEqual({ ...ref, key: channelKey(ref), config });
  });

  it('names the missing variable', () => {
    const { SHIMMY_CHANNEL_RAW_FRAMES_MODE: _, ...rest } = env;
    expect(() => readInjectedChannel('raw-frames', rest)).toThrowError(/SHIMMY_CHANNEL_RAW_FRAMES_MODE is not set/);
    expect(() => readInjectedChannel('raw-frames', {})).toThrowError(/SHIMMY_CHANNELS is not set/);
  });

  it('names the invalid variable and refuses a key that does not match the channel', () => {
    expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_CAPACITY: 'lots' })).toThrowError(/SHIMMY_CHANNEL_RAW_FRAMES_CAPACITY/);
    expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_SLOW_CONSUMER: 'drop' })).toThrowError(/not one of block, overwrite/);
    expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: '0x00000001' })).toThrowError(/does not match channel/);
  });

  it('refuses a channel that was not injected', () => {
    expect(() => readInjectedChannel('other', env)).toThrowError(/not in SHIMMY_CHANNELS/);
  });
});
