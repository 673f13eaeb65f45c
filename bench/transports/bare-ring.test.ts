import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Segment } from '../../src/shm/segment.js';
import { bareRingCapacity, bareRingSegment, bareRingTransport, createBareRings, recordBytes } from './bare-ring.js';
import { benchMessage, checksum, type WorkerContext } from './transport.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function setup(topics: string[], maxMessage: number) {
  const runId = randomBytes(4).toString('hex');
  cleanups.push(createBareRings(runId, topics, maxMessage));
  const ctx: WorkerContext = { endpoints: {}, size: maxMessage, runId, batching: true };
  return { runId, ctx };
}

describe('bare-ring layout', () => {
  it('pads records to 4 bytes after a 4-byte length', () => {
    expect([0, 1, 3, 4, 5, 16, 102_400].map(recordBytes)).toEqual([4, 8, 8, 8, 12, 20, 102_404]);
  });

  it('is a power of two with room for four of the largest records', () => {
    for (const size of [16, 102_400, 3_000_000]) {
      const cap = bareRingCapacity(size);
      expect(cap & (cap - 1)).toBe(0);
      expect(cap).toBeGreaterThanOrEqual(Math.max(8 * 1024 * 1024, 4 * recordBytes(size)));
    }
  });
});

describe('bare-ring transport', () => {
  it('delivers every byte of every record in order, across many wrap-arounds, odd sizes included', async () => {
    const { ctx } = setup(['data'], 100_003);
    const t = bareRingTransport();
    const sums: number[] = [];
    const lengths: number[] = [];
    const rx = await t.receiver(ctx, 'data', (b, o, len) => {
      lengths.push(len);
      sums.push(checksum(b, o, len));
    });
    const tx = await t.sender(ctx, 'data');
    const sizes = [100_003, 17, 1, 0, 4096, 65_537, 3];
    const msgs = sizes.map((n, i) => benchMessage(n, i));
    const want = msgs.map((m) => checksum(m, 0, m.length));
    // ~170 KiB a round, 100 rounds: the 8 MiB ring wraps twice, at varying record boundaries.
    for (let round = 0; round < 100; round++) {
      await tx.sendBatch!(msgs, msgs.length);
      await t.pump!(() => lengths.length >= (round + 1) * msgs.length);
    }
    expect(lengths).toEqual(Array.from({ length: 100 }, () => sizes).flat());
    expect(sums).toEqual(Array.from({ length: 100 }, () => want).flat());
    await tx.close();
    await rx.close();
  });

  it('makes a writer wait while the ring is full, and carries on once the reader frees it', async () => {
    const { ctx } = setup(['data'], 102_400);
    const t = bareRingTransport();
    let got = 0;
    let bytes = 0;
    const rx = await t.receiver(ctx, 'data', (_b, _o, len) => {
      got++;
      bytes += len;
    });
    const tx = await t.sender(ctx, 'data');
    const msg = benchMessage(102_400);
    // 16 MiB into an 8 MiB ring, nobody reading yet: the batch cannot finish on its own.
    const n = 164;
    const writing = tx.sendBatch!(new Array<Uint8Array>(n).fill(msg), n);
    expect(writing).toBeInstanceOf(Promise);
    await Promise.all([writing, t.pump!(() => got >= n)]);
    expect(bytes).toBe(n * msg.length);
    await tx.close();
    await rx.close();
  });

  it('sends each message at once with send(), for ping-pong', async () => {
    const { ctx } = setup(['ping'], 16);
    const t = bareRingTransport();
    let got = 0;
    const rx = await t.receiver({ ...ctx, batching: false }, 'ping', () => got++);
    const tx = await t.sender({ ...ctx, batching: false }, 'ping');
    for (let i = 1; i <= 1000; i++) {
      await tx.send(benchMessage(16));
      await t.pump!(() => got >= i);
    }
    expect(got).toBe(1000);
    await tx.close();
    await rx.close();
  });

  it('marks a segment for removal once both sides attached; the runner removes what is left', async () => {
    const { runId, ctx } = setup(['ping', 'pong'], 16);
    const t = bareRingTransport();
    const ping = bareRingSegment(runId, 'ping');
    const pong = bareRingSegment(runId, 'pong');
    expect(Segment.lookup(ping.key)).not.toBeNull();
    const rx = await t.receiver(ctx, 'ping', () => {});
    expect(Segment.lookup(ping.key)).not.toBeNull();
    const tx = await t.sender(ctx, 'ping');
    expect(Segment.lookup(ping.key)).toBeNull();
    await tx.close();
    await rx.close();
    expect(Segment.lookup(pong.key)).not.toBeNull();
    cleanups.splice(0).forEach((c) => c());
    expect(Segment.lookup(pong.key)).toBeNull();
  });

  it('says when the runner made no segment, or the key holds something else', async () => {
    const t = bareRingTransport();
    const runId = randomBytes(4).toString('hex');
    const ctx: WorkerContext = { endpoints: {}, size: 16, runId, batching: true };
    await expect(t.receiver(ctx, 'data', () => {})).rejects.toThrow(/No segment/);
    const seg = bareRingSegment(runId, 'data');
    const other = Segment.create(seg, 4096, 0o600);
    try {
      await expect(t.receiver(ctx, 'data', () => {})).rejects.toThrow(/not a bare ring/);
    } finally {
      other.detach();
      Segment.remove(seg, other.id);
    }
  });
});
