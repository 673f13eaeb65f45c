import { describe, expect, it } from 'vitest';
import { channelKey } from '../channel/names.js';
import { ErrorCode, type ShimmyError } from '../errors.js';
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

  it('carries the memory file of the mode without hostIPC, and refuses a relative path or one with ".."', () => {
    const path = '/var/run/shimmy/channels/raw-frames/ring';
    const withFile = { ...env, ...envFor({ ...ref, key: channelKey(ref), file: path, config }) };
    expect(withFile.SHIMMY_CHANNEL_RAW_FRAMES_FILE).toBe(path);
    expect(readInjectedChannel('raw-frames', withFile)).toEqual({ ...ref, key: channelKey(ref), file: path, config });
    expect(readInjectedChannel('raw-frames', env).file).toBeUndefined();
    expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_FILE: 'ring' })).toThrowError(
      /SHIMMY_CHANNEL_RAW_FRAMES_FILE="ring" is not an absolute path/,
    );
    expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_FILE: '/var/run/../../etc/passwd' })).toThrowError(/without "\.\."/);
  });

  it('carries the owner of a hardened segment as uid:gid, and refuses anything else', () => {
    const owner = { uid: 64500, gid: 64601 };
    const withOwner = { ...env, ...envFor({ ...ref, key: channelKey(ref), owner, config }) };
    expect(withOwner.SHIMMY_CHANNEL_RAW_FRAMES_OWNER).toBe('64500:64601');
    expect(readInjectedChannel('raw-frames', withOwner).owner).toEqual(owner);
    expect(readInjectedChannel('raw-frames', env).owner).toBeUndefined();
    for (const bad of ['64500', '-1:5', '64500:x', '4294967295:1', '1:2:3'])
      expect(() => readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_OWNER: bad }), bad).toThrowError(/_OWNER=.* is not uid:gid/);
  });

  it('refuses a channel that was not injected', () => {
    expect(() => readInjectedChannel('other', env)).toThrowError(/not in SHIMMY_CHANNELS/);
  });
});

function failure(e: Record<string, string | undefined>, name = 'raw-frames'): ShimmyError {
  try {
    readInjectedChannel(name, e);
  } catch (err) {
    return err as ShimmyError;
  }
  throw new Error('expected readInjectedChannel to throw');
}

describe('envFor', () => {
  it('injects an empty UID for a channel without a uid, and reads it back as none', () => {
    const noUid = { namespace: 'pipeline', name: 'raw-frames' };
    const vars = envFor({ ...noUid, key: channelKey(noUid), config });
    expect(vars.SHIMMY_CHANNEL_RAW_FRAMES_UID).toBe('');
    expect(readInjectedChannel('raw-frames', { ...env, ...vars })).toEqual({ ...noUid, key: channelKey(noUid), config });
  });
});

describe('readInjectedChannel, every problem coded and named', () => {
  it('treats an empty variable as unset, with a hint on how to get it injected', () => {
    const err = failure({ ...env, SHIMMY_NAMESPACE: '' });
    expect(err.code).toBe(ErrorCode.MISSING_ENV);
    expect(err.message).toMatch(/^SHIMMY_NAMESPACE is not set, so channel "raw-frames" cannot be opened from the environment\. /);
    expect(err.hint).toBe('Label the pod for the channel so the Shimmy webhook injects it, or call openChannel({ namespace, name }) with explicit options');
  });

  it('keeps a missing size variable a MISSING_ENV error', () => {
    const { SHIMMY_CHANNEL_RAW_FRAMES_CAPACITY: _, ...rest } = env;
    const err = failure(rest);
    expect(err.code).toBe(ErrorCode.MISSING_ENV);
    expect(err.message).toMatch(/^SHIMMY_CHANNEL_RAW_FRAMES_CAPACITY is not set/);
  });

  it('turns an unreadable size into INVALID_ENV that names the variable', () => {
    const err = failure({ ...env, SHIMMY_CHANNEL_RAW_FRAMES_MAX_MESSAGE: 'lots' });
    expect(err.code).toBe(ErrorCode.INVALID_ENV);
    expect(err.message).toMatch(/^Invalid SHIMMY_CHANNEL_RAW_FRAMES_MAX_MESSAGE "lots"\. Give bytes/);
    expect(err.hint).toBe('Fix or remove the variable');
  });

  it('names the mode and slow-consumer variables with the allowed values', () => {
    const mode = failure({ ...env, SHIMMY_CHANNEL_RAW_FRAMES_MODE: 'fast' });
    expect(mode.code).toBe(ErrorCode.INVALID_ENV);
    expect(mode.message).toBe('SHIMMY_CHANNEL_RAW_FRAMES_MODE="fast" is not one of pubsub, stream. Fix or remove the variable; the webhook sets it correctly');
    const slow = failure({ ...env, SHIMMY_CHANNEL_RAW_FRAMES_SLOW_CONSUMER: 'drop' });
    expect(slow.code).toBe(ErrorCode.INVALID_ENV);
    expect(slow.message).toMatch(/^SHIMMY_CHANNEL_RAW_FRAMES_SLOW_CONSUMER="drop" is not one of block, overwrite\. /);
  });

  it('refuses an invalid channel name or namespace, saying which', () => {
    const name = failure(env, 'Raw_Frames');
    expect(name.code).toBe(ErrorCode.INVALID_NAME);
    expect(name.message).toMatch(/^The channel name "Raw_Frames" is not a DNS-1123 label/);
    const namespace = failure({ ...env, SHIMMY_NAMESPACE: 'Pipe_Line' });
    expect(namespace.code).toBe(ErrorCode.INVALID_NAME);
    expect(namespace.message).toMatch(/^The namespace "Pipe_Line" is not a DNS-1123 label/);
  });

  it('lists the injected channels when asked for another', () => {
    const err = failure({ ...env, SHIMMY_CHANNELS: 'boxes, raw' });
    expect(err.code).toBe(ErrorCode.MISSING_ENV);
    expect(err.message).toBe(
      'Channel "raw-frames" is not in SHIMMY_CHANNELS (boxes, raw). Add the pod\'s labels to the channel\'s selector, or open one of the listed channels',
    );
  });

  it('refuses a key that is not exactly 0x and 1 to 8 hex digits', () => {
    const key = env.SHIMMY_CHANNEL_RAW_FRAMES_KEY!;
    for (const bad of [`${key}zz`, ` ${key}`, `x${key}`, key.slice(2), '0x', `${key}0`]) {
      const err = failure({ ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: bad });
      expect(err.code, bad).toBe(ErrorCode.INVALID_ENV);
      expect(err.message, bad).toBe(`SHIMMY_CHANNEL_RAW_FRAMES_KEY=${JSON.stringify(bad)} is not a hex key like 0x1a2b3c4d. Fix or remove the variable`);
    }
    expect(readInjectedChannel('raw-frames', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: key.toUpperCase().replace('0X', '0x') }).key).toBe(channelKey(ref));
  });

  it('refuses a well-formed key of another channel, saying the environment is stale', () => {
    const err = failure({ ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: '0x00000001' });
    expect(err.code).toBe(ErrorCode.INVALID_ENV);
    expect(err.hint).toBe('The environment is stale or hand-edited; recreate the pod');
  });
});
