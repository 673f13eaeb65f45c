import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { PAD_FLAG, RingWord, VALID_FLAG } from './layout.js';
import { StreamReader } from './stream-reader.js';
import { ErrorCode, type ShimmyError } from '../errors.js';
import { testChannels } from '../../test/helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const bytes = (s: string) => new TextEncoder().encode(s);

/** A stream channel; `a` writes ring 0, which `consumer()` readers take from. */
function setup(options: { capacity?: number; maxMessage?: number } = {}) {
  const ch = Channel.create(channels.ref('stream'), { mode: 'stream', capacity: 4096, maxMessage: 1024, ...options });
  const ring = ch.rings[0]!;
  const a = ch.streamEnd('a');
  const consumer = () => {
    const slot = ch.claimSlot('streamEnd', 1);
    const lock = ch.lockFor(0, 'read', slot);
    return { reader: new StreamReader(ring, lock), token: lock.ownerToken };
  };
  return { ch, ring, a, consumer };
}

function take(r: StreamReader, max = 1000): { n: number; got: Array<[string, number]> } {
  const got: Array<[string, number]> = [];
  const n = r.take(max, (m, seq) => got.push([m.toString(), seq]));
  return { n, got };
}

/** Takes until an error; returns it and what was delivered before. */
function takeError(r: StreamReader, max = 1000): { err: ShimmyError; got: Array<[string, number]> } {
  const got: Array<[string, number]> = [];
  try {
    r.take(max, (m, seq) => got.push([m.toString(), seq]));
  } catch (err) {
    return { err: err as ShimmyError, got };
  }
  throw new Error(`expected an error, got ${JSON.stringify(got)}`);
}

describe('StreamReader', () => {
  it('takes messages in order with their sequence numbers, at most `max` a call, and counts them as taken', () => {
    const { ch, ring, a, consumer } = setup();
    const { reader } = consumer();
    for (let i = 0; i < 5; i++) expect(a.tryPublish(bytes(`m${i}`))).toBe(true);
    expect(ch.stats().lag).toBe(5);
    expect(take(reader, 2)).toEqual({
      n: 2,
      got: [
        ['m0', 0],
        ['m1', 1],
      ],
    });
    expect(take(reader, 2).got.map(([, seq]) => seq)).toEqual([2, 3]);
    expect(take(reader, 2)).toEqual({ n: 1, got: [['m4', 4]] });
    expect(take(reader)).toEqual({ n: 0, got: [] });
    expect(reader.taken).toBe(5);
    expect(Atomics.load(ring.ctl, RingWord.taken)).toBe(5);
    expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(5 * 16);
    expect(ch.stats().lag).toBe(0);
    ch.close();
  });

  it('shares one cursor: what one consumer took, the other does not get', () => {
    const { ch, a, consumer } = setup();
    const one = consumer().reader;
    const two = consumer().reader;
    for (let i = 0; i < 3; i++) a.tryPublish(bytes(`m${i}`));
    expect(take(one, 1).got).toEqual([['m0', 0]]);
    expect(take(two).got).toEqual([
      ['m1', 1],
      ['m2', 2],
    ]);
    expect(take(one).n).toBe(0);
    expect([one.taken, two.taken]).toEqual([1, 2]);
    ch.close();
  });

  it('follows the writer through pads and the ring end: a record of exactly maxMessage, one ending at the ring end', () => {
    const { ch, ring, a, consumer } = setup();
    const { reader } = consumer();
    const sizes = [1024, 1000, 1024, 1016, 1024, 1000, 1024, 1024, 8, 0];
    const got: Array<[string, number]> = [];
    sizes.forEach((size, i) => {
      expect(a.tryPublish(bytes(String(i).repeat(size)))).toBe(true);
      if (i === 3) expect(Atomics.load(ring.ctl, RingWord.tail)).toBe(4096);
      got.push(...take(reader).got);
    });
    expect(got).toEqual(sizes.map((size, i) => [String(i).repeat(size), i]));
    expect(ring.words[3072 / 4]).toBe((PAD_FLAG | 1024) >>> 0);
    expect(reader.taken).toBe(sizes.length);
    ch.close();
  });

  it('moves the shared cursor past a pad even when the record after it is not committed yet', () => {
    const { ch, ring, a, consumer } = setup();
    const { reader } = consumer();
    for (let i = 0; i < 4; i++) a.tryPublish(new Uint8Array(1000));
    expect(take(reader).n).toBe(4);
    expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(4032);
    const claim = a.tryClaim(1000)!;
    expect(take(reader).n).toBe(0);
    expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(4096);
    claim.bytes.set(bytes('late'));
    claim.commit(4);
    expect(take(reader).got).toEqual([['late', 4]]);
    ch.close();
  });

  it('leaves the read lock alone when there is nothing to take', () => {
    const { ch, ring, consumer } = setup();
    const { reader } = consumer();
    // The lock word of a holder nobody could still be (generation 5 of an unused slot).
    const stale = (5 << 8) | 11;
    Atomics.store(ring.ctl, RingWord.readLock, stale);
    expect(take(reader).n).toBe(0);
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(stale);
    ch.close();
  });

  it('holds the read lock while it takes, and frees it after', () => {
    const { ch, ring, a, consumer } = setup();
    const { reader, token } = consumer();
    a.tryPublish(bytes('x'));
    a.tryPublish(bytes('y'));
    const held: number[] = [];
    const subarray = ring.bytes.subarray.bind(ring.bytes);
    ring.bytes.subarray = (start?: number, end?: number) => {
      held.push(Atomics.load(ring.ctl, RingWord.readLock));
      return subarray(start, end);
    };
    expect(take(reader).n).toBe(2);
    expect(held).toEqual([token, token]);
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
    ch.close();
  });

  it('takes at most one ring of records a call', () => {
    const { ch, ring, consumer } = setup();
    const { reader } = consumer();
    for (let w = 0; w < ring.words.length; w += 2) {
      ring.words[w] = VALID_FLAG;
      ring.words[w + 1] = w / 2;
    }
    expect(reader.take(100_000, () => {})).toBe(512);
    expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(4096);
    ch.close();
  });

  it('wakes a writer waiting for space when it takes', async () => {
    const { ch, ring, a, consumer } = setup();
    const { reader } = consumer();
    while (a.tryPublish(new Uint8Array(500)));
    const t0 = performance.now();
    let took = false;
    const woke = ring.space.waitAsync(() => took, 10_000);
    took = take(reader).n > 0;
    expect(await woke).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    ch.close();
  });
});

describe('StreamReader on a corrupt ring', () => {
  /** A record of `len` bytes with sequence number `seq` forged at `pos`, the shared cursor there and the tail hint at `tail`. */
  function forged(pos: number, tail: number, head: number, seq = 7) {
    const s = setup();
    Atomics.store(s.ring.ctl, RingWord.sharedCursor, pos);
    Atomics.store(s.ring.ctl, RingWord.tail, tail);
    const w = (pos & s.ring.mask) >>> 2;
    Atomics.store(s.ring.words, w, head >>> 0);
    s.ring.words[w + 1] = seq;
    return { ...s, reader: s.consumer().reader };
  }

  it('accepts a shared cursor up to one ring ahead of or behind the tail hint', () => {
    for (const [pos, tail] of [
      [12288, 8192],
      [4096, 8192],
    ] as const) {
      const { ch, reader, ring } = forged(pos, tail, VALID_FLAG | 1);
      expect(take(reader).got).toEqual([['\0', 7]]);
      expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(pos + 16);
      ch.close();
    }
  });

  it('refuses a shared cursor further than a ring from the tail hint, or unaligned, and delivers nothing', () => {
    for (const [pos, tail] of [
      [12296, 8192],
      [4088, 8192],
      [8196, 8192],
    ] as const) {
      const { ch, reader, ring } = forged(pos, tail, VALID_FLAG | 1);
      const { err, got } = takeError(reader);
      expect(got).toEqual([]);
      expect(err.code).toBe(ErrorCode.CORRUPT_RING);
      expect(err.message).toMatch(new RegExp(`at position ${pos}: shared cursor ${pos} is unaligned or further than the ring from the tail ${tail}\\.`));
      expect(Atomics.load(ring.ctl, RingWord.sharedCursor)).toBe(pos);
      expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
      ch.close();
    }
  });

  it('refuses a record running past the end of the ring by its header', () => {
    const { ch, reader } = forged(4080, 4080, VALID_FLAG | 16);
    const { err, got } = takeError(reader);
    expect(got).toEqual([]);
    expect(err.message).toMatch(/at position 4080: record length 16 at offset 4080 runs past the end of the 4096-byte ring\./);
    ch.close();
  });

  it("refuses a record over the channel's maximum, a pad at offset 0 and a head of neither kind", () => {
    const big = forged(0, 0, VALID_FLAG | 1025);
    expect(takeError(big.reader).err.message).toMatch(/record length 1025 at offset 0 is over the channel's maximum of 1024/);
    big.ch.close();
    const pad = forged(0, 0, PAD_FLAG | 4096);
    expect(takeError(pad.reader).err.message).toMatch(/pad of 4096 bytes at offset 0 \(a pad runs exactly to the end of the ring\)/);
    pad.ch.close();
    const odd = forged(8, 8, 12);
    expect(takeError(odd.reader).err).toMatchObject({ code: ErrorCode.CORRUPT_RING, message: expect.stringMatching(/head word 0xc at offset 8 is neither/) });
    odd.ch.close();
  });
});
