import { describe, expect, it } from 'vitest';
import { BATCH_BYTES, BatchWriter, frameCapacity } from './batch.js';
import { checkRecords } from '../channel/ring-writer.js';
import { HEADER_BYTES, readHeader } from './frames.js';
import { LENGTH_MASK, RECORD_HEADER, VALID_FLAG, recordBytes } from '../channel/layout.js';
import { recordsOf } from '../../test/helpers/records.js';

/** The frame's messages, read as a receiver reads them. */
const messages = (frame: Uint8Array, maxMessage: number) => {
  const checked = checkRecords(frame, HEADER_BYTES, frame.length, maxMessage);
  if (typeof checked === 'string') throw new Error(checked);
  const view = new DataView(frame.buffer, frame.byteOffset);
  const out: number[][] = [];
  for (let at = HEADER_BYTES; at < frame.length;) {
    const len = view.getUint32(at, true) & LENGTH_MASK;
    out.push([...frame.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len)]);
    at += recordBytes(len);
  }
  expect(out).toHaveLength(checked.count);
  return out;
};

describe('BatchWriter', () => {
  it("puts messages into one frame under its header as a ring's records, and starts over after take", () => {
    const w = new BatchWriter(64, 1 << 20);
    w.add(Uint8Array.of(9, 1, 2, 9), 1, 2);
    w.add(new Uint8Array(0), 0, 0);
    w.add(Uint8Array.of(3), 0, 1);
    const { data, messages: count } = w.take(41n, 7);
    expect(count).toBe(3);
    expect(data).toHaveLength(HEADER_BYTES + recordBytes(2) + recordBytes(0) + recordBytes(1));
    expect(readHeader(new DataView(data.buffer))).toEqual({ seq: 41n, epoch: 7, flags: 0 });
    expect(new DataView(data.buffer).getUint32(HEADER_BYTES, true)).toBe((VALID_FLAG | 2) >>> 0);
    expect(messages(data, 64)).toEqual([[1, 2], [], [3]]);
    expect(w.count).toBe(0);
    w.add(Uint8Array.of(5), 0, 1);
    expect(messages(w.take(42n, 7).data, 64)).toEqual([[5]]);
  });

  it('copies records that follow one another in a ring in one run, as the ring has them, by take() at the latest', () => {
    const ring = recordsOf('aa', 'bbb', 'c', 'dddd');
    const at = [0, 16, 32, 48];
    const w = new BatchWriter(64, 1 << 20);
    w.addRecord(ring, at[0]! + RECORD_HEADER, 2);
    w.addRecord(ring, at[1]! + RECORD_HEADER, 3);
    // Not next to the run: a run of its own.
    w.addRecord(ring, at[3]! + RECORD_HEADER, 4);
    w.add(Uint8Array.of(7), 0, 1);
    w.addRecord(ring, at[2]! + RECORD_HEADER, 1);
    // The runs are copied when the frame is taken (or a copy of its own comes between).
    ring[at[2]! + RECORD_HEADER] = 'C'.charCodeAt(0);
    const text = (m: number[]) => String.fromCharCode(...m);
    const { data, messages: count } = w.take(0n, 1);
    expect(count).toBe(5);
    expect(messages(data, 64).map(text)).toEqual(['aa', 'bbb', 'dddd', '\x07', 'C']);
    expect(data.subarray(HEADER_BYTES, HEADER_BYTES + 32)).toEqual(ring.subarray(0, 32));
  });

  it('counts a run not copied yet in what fits', () => {
    const ring = recordsOf(...Array.from({ length: 50 }, () => 'x'.repeat(16)));
    const w = new BatchWriter(64, 1024);
    let n = 0;
    while (w.fits(16)) w.addRecord(ring, n++ * 24 + RECORD_HEADER, 16);
    expect(n).toBe(42);
    expect(w.take(0n, 1).data).toHaveLength(HEADER_BYTES + 42 * 24);
  });

  it('fills a frame up to BATCH_BYTES, and takes a larger message alone', () => {
    const w = new BatchWriter(200_000, 1 << 20);
    expect(frameCapacity(200_000)).toBe(HEADER_BYTES + recordBytes(200_000));
    expect(frameCapacity(64)).toBe(BATCH_BYTES);
    const kb = new Uint8Array(1024);
    let n = 0;
    while (w.fits(kb.length)) {
      w.add(kb, 0, kb.length);
      n++;
    }
    expect(n).toBe(Math.floor((BATCH_BYTES - HEADER_BYTES) / recordBytes(1024)));
    w.take(0n, 1);
    expect(w.fits(150_000)).toBe(true);
    w.add(new Uint8Array(150_000), 0, 150_000);
    expect(w.fits(1)).toBe(false);
    expect(w.take(1n, 1).data).toHaveLength(HEADER_BYTES + recordBytes(150_000));
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
