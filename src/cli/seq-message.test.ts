import { describe, expect, it } from 'vitest';
import { fnv1aBytes } from '../channel/names.js';
import { SEQ_HEADER, SeqVerifier, checkSeqMessage, fillSeqMessage, seqFrame } from './seq-message.js';

function message(publisher: number, seq: number, size = 64): Uint8Array {
  const out = new Uint8Array(size);
  fillSeqMessage(out, publisher, seq);
  return out;
}

describe('--seq frames', () => {
  it('carry the publisher, the sequence number and a checksum over the length, both and the payload', () => {
    const frame = seqFrame(0xdeadbeef, 7, new TextEncoder().encode('hello'));
    expect(frame.length).toBe(SEQ_HEADER + 5);
    const dv = new DataView(frame.buffer);
    expect(new TextDecoder().decode(frame.subarray(0, 4))).toBe('SEQ3');
    expect(dv.getUint32(4, true)).toBe(0xdeadbeef);
    expect(dv.getUint32(8, true)).toBe(7);
    const seed = Math.imul(0x811c9dc5 ^ frame.length, 0x01000193) >>> 0;
    expect(dv.getUint32(12, true)).toBe(fnv1aBytes(frame, 16, frame.length, fnv1aBytes(frame, 4, 12, seed)));
    expect(checkSeqMessage(frame, 0, frame.length)).toEqual({ ok: true, publisher: 0xdeadbeef, seq: 7 });
  });

  it('fit in 16 bytes with no payload', () => {
    const frame = message(5, 9, 16);
    expect(checkSeqMessage(frame, 0, 16)).toEqual({ ok: true, publisher: 5, seq: 9 });
    const renumbered = frame.slice();
    renumbered[8] = 10;
    expect(checkSeqMessage(renumbered, 0, 16)).toMatchObject({ ok: false, reason: expect.stringMatching(/checksum mismatch/) });
  });

  it('are checked where they lie in a larger buffer', () => {
    const ring = new Uint8Array(256);
    ring.set(message(3, 41, 100), 40);
    expect(checkSeqMessage(ring, 40, 100)).toEqual({ ok: true, publisher: 3, seq: 41 });
  });

  it('are refused when torn, truncated, unframed or in the old format, saying why', () => {
    const torn = message(1, 2);
    torn[SEQ_HEADER + 10]! ^= 1;
    expect(checkSeqMessage(torn, 0, torn.length)).toMatchObject({ ok: false, reason: expect.stringMatching(/checksum mismatch/) });
    const whole = message(1, 2);
    expect(checkSeqMessage(whole, 0, whole.length - 8)).toMatchObject({ ok: false, reason: expect.stringMatching(/checksum mismatch/) });
    expect(checkSeqMessage(whole, 0, 12)).toMatchObject({ ok: false, reason: expect.stringMatching(/shorter than the 16-byte seq header/) });
    const plain = new TextEncoder().encode('just some text, long enough');
    expect(checkSeqMessage(plain, 0, plain.length)).toMatchObject({ ok: false, reason: expect.stringMatching(/no SEQ3 magic/) });
    for (const format of ['SEQ1', 'SEQ2']) {
      const old = message(1, 2);
      old.set(new TextEncoder().encode(format));
      expect(checkSeqMessage(old, 0, old.length)).toMatchObject({
        ok: false,
        reason: `a ${format} frame, an earlier format: publish with this version of \`shimmy pub --seq\``,
      });
    }
  });
});

describe('SeqVerifier', () => {
  const feed = (v: SeqVerifier, frames: Array<[number, number]>) => {
    for (const [publisher, seq] of frames) {
      const m = message(publisher, seq);
      v.check(m, 0, m.length);
    }
  };

  it("checks each publisher's sequence on its own, however they interleave", () => {
    const v = new SeqVerifier();
    // Three publishers, each first seen at a different point of its own sequence, in bursts
    // of different lengths: one sequence across all of them would see 0 after 500.
    const frames: Array<[number, number]> = [];
    const next = new Map([
      [0xa, 500],
      [0xb, 0],
      [0xc, 9],
    ]);
    for (let round = 0; round < 50; round++) {
      for (const [publisher, burst] of [
        [0xa, 1],
        [0xb, 3],
        [0xc, 2],
      ] as const) {
        for (let k = 0; k < burst; k++) {
          frames.push([publisher, next.get(publisher)!]);
          next.set(publisher, next.get(publisher)! + 1);
        }
      }
    }
    feed(v, frames);
    expect(v).toMatchObject({ gaps: 0, outOfOrder: 0, corrupt: 0, publishers: 3 });
  });

  it('counts gaps and reordering within one publisher', () => {
    const v = new SeqVerifier();
    feed(v, [
      [1, 0],
      [2, 0],
      [1, 1],
      [1, 4],
      [2, 1],
      [1, 3],
      [1, 5],
      [2, 2],
    ]);
    // Publisher 1 skipped 2 and 3 (two gaps), then 3 came late (out of order).
    expect(v).toMatchObject({ gaps: 2, outOfOrder: 1, corrupt: 0, publishers: 2 });
  });

  it('counts corrupt messages and says why', () => {
    const v = new SeqVerifier();
    const torn = message(1, 0);
    torn[SEQ_HEADER]! ^= 0xff;
    expect(v.check(torn, 0, torn.length)).toMatch(/checksum mismatch/);
    const ok = message(1, 0);
    expect(v.check(ok, 0, ok.length)).toBeNull();
    expect(v).toMatchObject({ gaps: 0, outOfOrder: 0, corrupt: 1, publishers: 1 });
  });
});
