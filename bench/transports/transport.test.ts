import { describe, expect, it } from 'vitest';
import { benchMessage, checksum, repeatedChecksum, throughputBatch } from './transport.js';

/** The definition, slowly: each byte weighted by its place in a little-endian word, mod 2^32. */
function reference(bytes: Uint8Array, offset: number, length: number): number {
  let s = 0n;
  for (let j = 0; j < length; j++) s += BigInt(bytes[offset + j]!) << BigInt(8 * (j % 4));
  return Number(s % 2n ** 32n);
}

function random(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('checksum', () => {
  it('sums little-endian words, a last partial word padded with zeros', () => {
    expect(checksum(new Uint8Array(0), 0, 0)).toBe(0);
    expect(checksum(Uint8Array.of(1, 2, 3, 4), 0, 4)).toBe(0x04030201);
    expect(checksum(Uint8Array.of(1, 2, 3, 4, 5), 0, 5)).toBe(0x04030206);
    expect(checksum(Uint8Array.of(1, 2, 3, 4, 5, 6, 7), 0, 7)).toBe(0x04030201 + 0x00070605);
    // Wraps modulo 2^32.
    expect(checksum(new Uint8Array(8).fill(0xff), 0, 8)).toBe(0xfffffffe);
    expect(checksum(new Uint8Array(256).fill(0xff), 0, 256)).toBe((0xffffffff * 64) % 2 ** 32);
  });

  it('covers exactly [offset, offset + length), at any offset and length, on every path', () => {
    const data = random(4096, 7);
    for (let offset = 0; offset < 9; offset++)
      for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 31, 63, 64, 65, 66, 67, 68, 100, 255, 1000, 4000 - offset])
        expect(checksum(data, offset, length), `offset ${offset}, length ${length}`).toBe(reference(data, offset, length));
  });

  it('reads a view at its own byteOffset, aligned or not, and ignores the bytes around it', () => {
    const backing = new Uint8Array(200_000).fill(0xee);
    const msg = random(102_400, 3);
    for (const at of [0, 1, 2, 3, 4, 8, 13]) {
      backing.set(msg, at + 5);
      const view = backing.subarray(at);
      expect(checksum(view, 5, msg.length), `view at ${at}`).toBe(reference(msg, 0, msg.length));
      backing.fill(0xee);
    }
  });

  it('is not fooled by a different buffer after a cached one (socket chunks, pooled Buffers)', () => {
    const a = random(1024, 1);
    const b = random(1024, 2);
    const pooled = Buffer.from(random(300, 4));
    for (let round = 0; round < 3; round++) {
      expect(checksum(a, 0, 1024)).toBe(reference(a, 0, 1024));
      expect(checksum(b, 4, 512)).toBe(reference(b, 4, 512));
      expect(checksum(pooled, 3, 290)).toBe(reference(pooled, 3, 290));
    }
  });

  it('of n copies is the sum of n checksums, for counts past 2^31 too', () => {
    const one = checksum(benchMessage(100), 0, 100);
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum = (sum + one) | 0;
    expect(repeatedChecksum(one, 1000)).toBe(sum >>> 0);
    expect(repeatedChecksum(0xffffffff, 3)).toBe(0xfffffffd);
    expect(repeatedChecksum(0x80000001, 2 ** 31 + 1)).toBe(Number((0x80000001n * (2n ** 31n + 1n)) % 2n ** 32n));
    expect(repeatedChecksum(one, 0)).toBe(0);
  });
});

describe('benchMessage', () => {
  it('varies byte to byte, so a frame misread by a word sums differently', () => {
    const msg = benchMessage(64);
    expect(new Set(msg).size).toBeGreaterThan(32);
    const shifted = new Uint8Array(68);
    shifted.set(msg, 4);
    expect(checksum(shifted, 0, 64)).not.toBe(checksum(msg, 0, 64));
    expect(benchMessage(16, 1)).not.toEqual(benchMessage(16, 0));
  });
});

describe('throughputBatch', () => {
  it('fills the sockets 64 KiB write with length-prefixed frames under 4 KiB, else one message', () => {
    expect(throughputBatch(16)).toBe(3276);
    expect(throughputBatch(1)).toBe(13107);
    expect(throughputBatch(1000)).toBe(65);
    expect(throughputBatch(4095)).toBe(15);
    expect(throughputBatch(4096)).toBe(1);
    expect(throughputBatch(102_400)).toBe(1);
    for (const size of [16, 100, 1000, 4000]) {
      expect(throughputBatch(size) * (size + 4)).toBeLessThanOrEqual(65536);
      expect((throughputBatch(size) + 1) * (size + 4)).toBeGreaterThan(65536);
    }
  });
});
