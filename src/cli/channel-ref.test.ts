import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { quietPeriod } from '../../test/helpers/wait.js';
import { Channel } from '../channel/channel.js';
import { channelKey, type ChannelRef } from '../channel/names.js';
import { channelEnvVar, envFor } from '../client/env.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { openCliChannel, resolveCliChannel } from './channel-ref.js';

const config = { mode: 'pubsub' as const, capacity: 1 << 16, maxMessage: 1024, slowConsumer: 'overwrite' as const };

function podEnv(ref: Required<ChannelRef>, others: string[] = []): Record<string, string> {
  return {
    SHIMMY_NAMESPACE: ref.namespace,
    SHIMMY_CHANNELS: [...others, ref.name].join(','),
    ...envFor({ ...ref, key: channelKey(ref), config }),
  };
}

const injected = { namespace: 'pipeline', name: 'raw-frames', uid: '0b6f4a52-2d1e-4c59-9a43-1f2e3d4c5b6a' };
const env = podEnv(injected, ['metadata']);

describe('resolveCliChannel', () => {
  it('outside a pod: namespace "default" (or --namespace), open only', () => {
    expect(resolveCliChannel('raw-frames', undefined, {})).toEqual({ ref: { namespace: 'default', name: 'raw-frames' }, source: 'flags' });
    expect(resolveCliChannel('raw-frames', 'demo', {})).toEqual({ ref: { namespace: 'demo', name: 'raw-frames' }, source: 'flags' });
    expect(resolveCliChannel('raw-frames', undefined, { SHIMMY_CHANNELS: '' })).toEqual({ ref: { namespace: 'default', name: 'raw-frames' }, source: 'flags' });
  });

  it('in a pod, for an injected NAME: namespace and uid from the environment', () => {
    const r = resolveCliChannel('raw-frames', undefined, env);
    expect(r).toEqual({ ref: injected, source: 'env' });
    // The uid is part of the key: without it the command would attach to another segment.
    expect(channelKey(r.ref)).not.toBe(channelKey({ namespace: injected.namespace, name: injected.name }));
    expect(channelKey(r.ref)).toBe(Number.parseInt(env.SHIMMY_CHANNEL_RAW_FRAMES_KEY!, 16) | 0);
  });

  it('in a pod, for a Volume channel: the memory file the webhook named', () => {
    const file = '/var/run/shimmy/channels/raw-frames/ring';
    expect(resolveCliChannel('raw-frames', undefined, { ...env, [channelEnvVar('raw-frames', 'FILE')]: file })).toEqual({ ref: injected, source: 'env', file });
  });

  it('in a pod, for a NAME not in SHIMMY_CHANNELS: as outside a pod', () => {
    expect(resolveCliChannel('other', undefined, env)).toEqual({ ref: { namespace: 'default', name: 'other' }, source: 'flags' });
    // A prefix of a listed name is not listed.
    expect(resolveCliChannel('raw', undefined, env)).toEqual({ ref: { namespace: 'default', name: 'raw' }, source: 'flags' });
  });

  it('an explicit --namespace wins over the environment, even a broken one', () => {
    expect(resolveCliChannel('raw-frames', 'pipeline', env)).toEqual({ ref: { namespace: 'pipeline', name: 'raw-frames' }, source: 'flags' });
    expect(resolveCliChannel('raw-frames', 'default', { ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: 'nope' })).toEqual({
      ref: { namespace: 'default', name: 'raw-frames' },
      source: 'flags',
    });
  });

  it('tolerates spaces around the names in SHIMMY_CHANNELS, as the client library does', () => {
    expect(resolveCliChannel('raw-frames', undefined, { ...env, SHIMMY_CHANNELS: 'metadata , raw-frames ' }).source).toBe('env');
  });

  it('fails with the coded error of the environment contract when the injected NAME is malformed', () => {
    expect(codeOf(() => resolveCliChannel('raw-frames', undefined, { ...env, SHIMMY_CHANNEL_RAW_FRAMES_KEY: '0x00000001' }))).toBe(ErrorCode.INVALID_ENV);
    expect(codeOf(() => resolveCliChannel('raw-frames', undefined, { ...env, SHIMMY_CHANNEL_RAW_FRAMES_CAPACITY: 'lots' }))).toBe(ErrorCode.INVALID_ENV);
    expect(codeOf(() => resolveCliChannel('raw-frames', undefined, { ...env, SHIMMY_CHANNEL_RAW_FRAMES_MODE: 'fanout' }))).toBe(ErrorCode.INVALID_ENV);
    const { SHIMMY_NAMESPACE: _ns, ...noNamespace } = env;
    expect(codeOf(() => resolveCliChannel('raw-frames', undefined, noNamespace))).toBe(ErrorCode.MISSING_ENV);
    const { SHIMMY_CHANNEL_RAW_FRAMES_SLOW_CONSUMER: _sc, ...noPolicy } = env;
    expect(() => resolveCliChannel('raw-frames', undefined, noPolicy)).toThrowError(/SHIMMY_CHANNEL_RAW_FRAMES_SLOW_CONSUMER is not set/);
    // The uid is covered by the key check: dropping it makes the key wrong.
    expect(codeOf(() => resolveCliChannel('raw-frames', undefined, { ...env, SHIMMY_CHANNEL_RAW_FRAMES_UID: '' }))).toBe(ErrorCode.INVALID_ENV);
  });
});

describe('openCliChannel', () => {
  const made: ChannelRef[] = [];
  afterEach(() => {
    for (const r of made.splice(0)) Channel.remove(r);
  });
  const fresh = (): Required<ChannelRef> => {
    const r = { namespace: 'shimmy-test', name: `cliref-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
    made.push(r, { namespace: r.namespace, name: r.name });
    return r;
  };

  it("waits for the agent's segment of an injected channel and attaches under the uid-bearing key once it appears", async () => {
    const ref = fresh();
    const opening = openCliChannel(resolveCliChannel(ref.name, undefined, podEnv(ref)), 10_000);
    await quietPeriod(300);
    // Still waiting, and it has made nothing.
    expect(codeOf(() => Channel.open(ref))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
    const agentMade = Channel.create(ref, config);
    const ch = await opening;
    try {
      expect(ch.stats().shmId).toBe(agentMade.stats().shmId);
      expect(ch.stats().key).toBe(podEnv(ref)[channelEnvVar(ref.name, 'KEY')]);
      expect(ch.ref).toEqual(ref);
    } finally {
      ch.close();
      agentMade.close();
    }
  });

  it('gives up after the wait with SEGMENT_NOT_FOUND naming the agent, and never creates the segment', async () => {
    const ref = fresh();
    const started = Date.now();
    const err = await openCliChannel(resolveCliChannel(ref.name, undefined, podEnv(ref)), 400).catch((e: unknown) => e as ShimmyError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(err).toBeInstanceOf(ShimmyError);
    expect((err as ShimmyError).code).toBe(ErrorCode.SEGMENT_NOT_FOUND);
    expect((err as ShimmyError).hint).toMatch(/node agent/);
    expect(codeOf(() => Channel.open(ref))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });

  it('only opens, without waiting, outside a pod or with an explicit --namespace', async () => {
    const ref = fresh();
    const started = Date.now();
    await expect(openCliChannel(resolveCliChannel(ref.name, ref.namespace, podEnv(ref)))).rejects.toMatchObject({ code: ErrorCode.SEGMENT_NOT_FOUND });
    await expect(openCliChannel(resolveCliChannel(ref.name, ref.namespace, {}))).rejects.toMatchObject({ code: ErrorCode.SEGMENT_NOT_FOUND });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(codeOf(() => Channel.open(ref))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });
});
