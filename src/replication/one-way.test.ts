import { describe, expect, it } from 'vitest';
import type { Publisher } from '../channel/endpoints.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { land } from './one-way.js';
import type { UcxWorker } from './ucx.js';

/** A link that delivers frames with these sequence numbers (payload: the number as one byte), then nothing. */
function linkDelivering(seqs: number[]): UcxWorker {
  let i = 0;
  return {
    recv(_tag: bigint, _mask: bigint, into: Uint8Array) {
      if (i >= seqs.length) throw new ShimmyError(ErrorCode.TIMEOUT, 'receiving timed out', '');
      const view = new DataView(into.buffer, into.byteOffset);
      view.setBigUint64(0, BigInt(seqs[i]!), true);
      into[8] = seqs[i++]!;
      return { length: 9, tag: 1n };
    },
  } as unknown as UcxWorker;
}

const recorder = () => {
  const published: number[] = [];
  const pub = { publish: async (bytes: Uint8Array) => void published.push(...bytes) } as unknown as Publisher;
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
