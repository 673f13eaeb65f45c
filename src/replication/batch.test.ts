import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, BatchWriter, frameCapacity, LENGTH_BYTES, messageAt } from './batch.js';
import { HEADER_BYTES, readHeader } from './frames.js';

const messages = (frame: Uint8Array, maxMessage: number) => {
  const view = new DataView(frame.buffer);
  const out: number[][] = [];
  for (let offset = HEADER_BYTES; ;) {
    const at = messageAt(view, offset, frame.length, maxMessage);
    if (at === null) return out;
    if (typeof at === 'string') throw new Error(at);
    out.push([...frame.subarray(at.from, at.to)]);
    offset = at.to;
  }
};

describe('BatchWriter', () => {
  it('puts messages into one frame under its header, each after its length, and starts over after take', () => {
    const w = new BatchWriter(64, 1 << 20);
    w.add(Uint8Array.of(9, 1, 2, 9), 1, 2);
    w.add(new Uint8Array(0), 0, 0);
    w.add(Uint8Array.of(3), 0, 1);
    const { data, messages: count } = w.take(41n, 7);
    expect(count).toBe(3);
    expect(data).toHaveLength(HEADER_BYTES + 3 * LENGTH_BYTES + 3);
    expect(readHeader(new DataView(data.buffer))).toEqual({ seq: 41n, epoch: 7, flags: 0 });
    expect(messages(data, 64)).toEqual([[1, 2], [], [3]]);
    expect(w.count).toBe(0);
    w.add(Uint8Array.of(5), 0, 1);
    expect(messages(w.take(42n, 7).data, 64)).toEqual([[5]]);
  });

  it('fills a frame up to BATCH_BYTES, and takes a larger message alone', () => {
    const w = new BatchWriter(200_000, 1 << 20);
    expect(frameCapacity(200_000)).toBe(HEADER_BYTES + LENGTH_BYTES + 200_000);
    expect(frameCapacity(64)).toBe(BATCH_BYTES);
    const kb = new Uint8Array(1024);
    let n = 0;
    while (w.fits(kb.length)) {
      w.add(kb, 0, kb.length);
      n++;
    }
    expect(n).toBe(Math.floor((BATCH_BYTES - HEADER_BYTES) / (LENGTH_BYTES + 1024)));
    w.take(0n, 1);
    expect(w.fits(150_000)).toBe(true);
    w.add(new Uint8Array(150_000), 0, 150_000);
    expect(w.fits(1)).toBe(false);
    expect(w.take(1n, 1).data).toHaveLength(HEADER_BYTES + LENGTH_BYTES + 150_000);
  });

  it("ends a frame at the records its messages would take in the receiver's ring (it lands a frame whole)", () => {
    // 16-byte messages take 24 bytes as records: 1,024 bytes of ring hold 42 of them.
    const w = new BatchWriter(64, 1024);
    let n = 0;
    while (w.fits(16)) {
      w.add(new Uint8Array(16), 0, 16);
      n++;
    }
    expect(n).toBe(42);
    expect(w.take(0n, 1).messages).toBe(42);
    // A message larger than that still goes, alone.
    const big = new BatchWriter(4096, 1024);
    expect(big.fits(2000)).toBe(true);
    big.add(new Uint8Array(2000), 0, 2000);
    expect(big.fits(1)).toBe(false);
  });
});

describe('messageAt', () => {
  it('names a length past the frame, over the largest message, or cut short', () => {
    const frame = new Uint8Array(HEADER_BYTES + LENGTH_BYTES + 2);
    const view = new DataView(frame.buffer);
    view.setUint32(HEADER_BYTES, 3, true);
    expect(messageAt(view, HEADER_BYTES, frame.length, 64)).toMatch(/a 3-byte message at 16 in a frame of 22 bytes/);
    view.setUint32(HEADER_BYTES, 2, true);
    expect(messageAt(view, HEADER_BYTES, frame.length, 1)).toMatch(/the channel's largest is 1/);
    expect(messageAt(view, HEADER_BYTES, frame.length, 64)).toEqual({ from: 20, to: 22 });
    expect(messageAt(view, HEADER_BYTES, frame.length - 4, 64)).toMatch(/cut inside a message length/);
    expect(messageAt(view, frame.length, frame.length, 64)).toBeNull();
  });
});
