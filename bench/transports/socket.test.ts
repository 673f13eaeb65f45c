import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { socketTransport } from './socket.js';
import { benchMessage, checksum, throughputBatch, type WorkerContext } from './transport.js';

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('socket transport (uds)', () => {
  it('frames batches into 64 KiB writes and large messages as one writev; the receiver gets every byte in order', async () => {
    const t = socketTransport('uds');
    const ctx: WorkerContext = { endpoints: {}, size: 16, runId: randomBytes(4).toString('hex'), batching: true };
    const got: Array<[number, number]> = [];
    const rx = await t.receiver(ctx, 'data', (b, o, len) => got.push([len, checksum(b, o, len)]));
    const tx = await t.sender(ctx, 'data');
    const want: Array<[number, number]> = [];
    const batch = (msgs: Uint8Array[]) => {
      for (const m of msgs) want.push([m.length, checksum(m, 0, m.length)]);
      return tx.sendBatch!(msgs, msgs.length);
    };
    // Small frames that straddle reads, at the chunk's edge (4 + 65532 fits, 4 + 65533 does not), and large ones.
    const small = new Array<Uint8Array>(throughputBatch(16)).fill(benchMessage(16));
    for (let i = 0; i < 5; i++) await batch(small);
    await batch([benchMessage(65_532, 1), benchMessage(65_533, 2), benchMessage(3, 3), benchMessage(102_400, 4), benchMessage(0, 5)]);
    for (let i = 0; i < 20; i++) await batch([benchMessage(102_400 + i, i), benchMessage(7, i)]);
    // send() coalesces small throughput messages until flush().
    for (let i = 0; i < 100; i++) {
      const m = benchMessage(1 + (i % 40), i);
      want.push([m.length, checksum(m, 0, m.length)]);
      await tx.send(m);
    }
    await tx.flush();
    await until(() => got.length >= want.length);
    expect(got).toEqual(want);
    await tx.close();
    await rx.close();
  });
});
