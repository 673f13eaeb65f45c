import { describe, expect, it } from 'vitest';
import type { Publisher } from '../channel/endpoints.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Channel } from '../channel/channel.js';
import { HEADER_BYTES, LandedSeqs, writeHeader } from './frames.js';
import { forward, land } from './one-way.js';
import type { UcxWorker } from './ucx.js';

/** A link that delivers frames with these sequence numbers (payload: the number as one byte), then nothing. */
function linkDelivering(seqs: number[]): UcxWorker {
  let i = 0;
  return {
    recv(_tag: bigint, _mask: bigint, into: Uint8Array) {
      if (i >= seqs.length) throw new ShimmyError(ErrorCode.TIMEOUT, 'receiving timed out', '');
      const view = new DataView(into.buffer, into.byteOffset);
      writeHeader(view, BigInt(seqs[i]!), 1);
      into[HEADER_BYTES] = seqs[i++]!;
      return { length: HEADER_BYTES + 1, tag: 1n };
    },
  } as unknown as UcxWorker;
}

/** A publisher that records what is committed; ring sequence numbers from 100. */
const recorder = () => {
  const published: number[] = [];
  let seq = 100;
  const pub = {
    claim: async (length: number) => {
      const bytes = new Uint8Array(length);
      return { bytes, commit: () => (published.push(...bytes), seq++), abort() {} };
    },
  } as unknown as Publisher;
  return { pub, published };
};

describe('land', () => {
  it('publishes each sequence number once, in order, and counts what came again (a resend after a cut link)', async () => {
    const { pub, published } = recorder();
    expect(await land(pub, linkDelivering([0, 1, 1, 2, 0, 3]), { maxMessage: 16, tag: 1n, count: 4 })).toEqual({ landed: 4, repeats: 2 });
    expect(published).toEqual([0, 1, 2, 3]);
  });

  it('keeps waiting through receive timeouts until aborted, and passes other errors on', async () => {
    const { pub } = recorder();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    expect(await land(pub, linkDelivering([0]), { maxMessage: 16, tag: 1n, signal: controller.signal })).toEqual({ landed: 1, repeats: 0 });
    const broken = {
      recv() {
        throw new ShimmyError(ErrorCode.PEER_UNAVAILABLE, 'the peer is gone', '');
      },
    } as unknown as UcxWorker;
    await expect(land(pub, broken, { maxMessage: 16, tag: 1n })).rejects.toMatchObject({ code: ErrorCode.PEER_UNAVAILABLE });
  });
});

describe('LandedSeqs', () => {
  it('knows the landed sequence numbers in ring order, forgets earlier ones, and wraps at 32 bits', () => {
    const landed = new LandedSeqs();
    for (const seq of [5, 7, 0xffffffff, 1]) landed.push(seq);
    expect([4, 5, 6, 7, 0xfffffffe, 0xffffffff, 0, 1, 2].map((s) => landed.isLanded(s))).toEqual([false, true, false, true, false, true, false, true, false]);
    expect(landed.size).toBe(0);
  });

  it('records what land publishes, by the ring sequence number its commit returns', async () => {
    const { pub } = recorder();
    const landed = new LandedSeqs();
    await land(pub, linkDelivering([0, 1]), { maxMessage: 16, tag: 1n, count: 2, landed });
    expect([99, 100, 101].map((s) => landed.isLanded(s))).toEqual([false, true, true]);
  });
});

describe('forward', () => {
  it('sends what was published on its host and skips what the lander of the same channel landed, so nothing goes back', async () => {
    const dir = mkdtempSync('/dev/shm/shimmy-forward-');
    const channel = Channel.createFile({ namespace: 'fw', name: 'both' }, join(dir, 'ring'), { capacity: 65536, maxMessage: 64 });
    try {
      const sub = channel.subscriber();
      const pub = channel.publisher();
      const landed = new LandedSeqs();
      const sent: number[] = [];
      const link = {
        send: (_peer: number, _tag: bigint, frame: Uint8Array) => void sent.push(frame[HEADER_BYTES]!),
        flush: () => {},
      } as unknown as UcxWorker;
      await pub.publish(Uint8Array.of(1));
      const fromPeer = await pub.claim(1);
      fromPeer.bytes[0] = 2;
      landed.push(fromPeer.commit());
      await pub.publish(Uint8Array.of(3));
      expect(await forward(sub, link, 0, { maxMessage: 64, tag: 1n, count: 2, landed })).toBe(2);
      expect(sent).toEqual([1, 3]);
    } finally {
      channel.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
