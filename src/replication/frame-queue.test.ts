import { describe, expect, it } from 'vitest';
import { FrameQueue } from './frame-queue.js';

const frame = (n: number) => new Uint8Array(n);

describe('FrameQueue', () => {
  it('walks the unsent frames, starts over from the oldest unacknowledged on rewind, and lets acknowledged ones go', () => {
    const q = new FrameQueue();
    for (let seq = 0n; seq < 5n; seq++) q.push(seq, frame(10));
    expect(q.bytes).toBe(50);
    const sent: bigint[] = [];
    for (let f = q.nextUnsent(); f && sent.length < 3; f = q.nextUnsent()) {
      sent.push(f.seq);
      q.markSent();
    }
    expect(sent).toEqual([0n, 1n, 2n]);
    q.acknowledge(2n);
    expect([q.length, q.bytes]).toEqual([3, 30]);
    expect(q.nextUnsent()?.seq).toBe(3n);
    q.rewind();
    expect(q.nextUnsent()?.seq).toBe(2n);
    q.acknowledge(4n);
    expect(q.nextUnsent()?.seq).toBe(4n);
    q.acknowledge(9n);
    expect([q.length, q.bytes, q.nextUnsent()]).toEqual([0, 0, undefined]);
  });

  it('keeps its place when it compacts after many acknowledgements', () => {
    const q = new FrameQueue();
    for (let seq = 0n; seq < 5000n; seq++) q.push(seq, frame(1));
    for (let i = 0; i < 4000; i++) q.markSent();
    q.acknowledge(3000n);
    expect(q.nextUnsent()?.seq).toBe(4000n);
    q.rewind();
    expect(q.nextUnsent()?.seq).toBe(3000n);
    expect(q.length).toBe(2000);
  });
});
