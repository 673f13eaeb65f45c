import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import type { StreamTaker } from './stream-taker.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { testChannels } from '../../test/helpers/proc.js';
import { recordsOf } from '../../test/helpers/records.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const enc = new TextEncoder();

/** Takes a frame's worth into `got`, as the agent's sink would, committing at once. */
function takeInto(taker: StreamTaker, max: number, got: string[]): number {
  return taker.takeFrame(max, 1, {
    add: (bytes, offset, length) => (got.push(Buffer.from(bytes.subarray(offset, offset + length)).toString()), true),
    seal: () => ({ seq: 0n, commit: () => {} }),
  });
}

describe('StreamTaker', () => {
  it("takes this node's messages in turn with its consumers, stops at one landed from a peer, and counts the ring's consumers and backlog", () => {
    const ch = Channel.create(channels.ref('taker'), { mode: 'stream', capacity: 4096, maxMessage: 256 });
    const requester = ch.streamEnd('a');
    const taker = ch.streamTaker(0, 5);
    expect(taker.consumers()).toBe(0);
    const worker = ch.streamEnd('b');
    // Side b consumes ring 0; side a consumes ring 1, which has no taker here.
    expect(taker.consumers()).toBe(1);
    for (const m of ['one', 'two']) expect(requester.tryPublish(enc.encode(m))).toBe(true);
    const lander = ch.lander(42, false, 0);
    const records = recordsOf('remote');
    expect(lander.tryLand(records, 0, records.length, () => {})).toBe(1);
    expect(requester.tryPublish(enc.encode('three'))).toBe(true);
    expect(taker.backlog()).toBe(4);

    const got: string[] = [];
    // Only what this node wrote, and not past the landed message, which is the worker's.
    expect(takeInto(taker, 10, got)).toBe(2);
    expect(got).toEqual(['one', 'two']);
    expect(takeInto(taker, 10, got)).toBe(0);
    expect(taker.backlog()).toBe(2);
    const worked: string[] = [];
    expect(worker.take(1, (m) => worked.push(m.toString()))).toBe(1);
    expect(worked).toEqual(['remote']);
    expect(takeInto(taker, 10, got)).toBe(1);
    expect(got).toEqual(['one', 'two', 'three']);
    expect(taker.backlog()).toBe(0);

    worker.close();
    expect(taker.consumers()).toBe(0);
    taker.close();
    expect(codeOf(() => takeInto(taker, 1, got))).toBe(ErrorCode.CLOSED);
    ch.close();
  });

  it('is refused on a pub/sub channel, and a lander on a ring the channel does not have', () => {
    const ch = Channel.create(channels.ref('taker-ps'), { capacity: 4096, maxMessage: 256 });
    expect(codeOf(() => ch.streamTaker(0, 5))).toBe(ErrorCode.WRONG_MODE);
    expect(codeOf(() => ch.lander(1, false, 1))).toBe(ErrorCode.INVALID_ARGUMENT);
    ch.close();
  });
});
