import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { PAD_FLAG, RingWord, VALID_FLAG } from './layout.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { testChannels } from '../../test/helpers/proc.js';

// Readers must distrust the ring (issue 10): heads that no Shimmy writer could have written
// end in CORRUPT_RING, promptly, and deliver nothing of the forged record.

const channels = testChannels();
const ref = (prefix = 'corrupt') => channels.ref(prefix);
afterEach(() => channels.cleanup());

const bytes = (s: string) => new TextEncoder().encode(s);
const GIB = 1 << 30;

/** Polls until an error (or 2 s of nothing); returns the error and what was delivered. */
function pollUntilError(poll: (deliver: (s: string) => void) => number): { err: unknown; got: string[]; ms: number } {
  const got: string[] = [];
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < 2000) poll((s) => got.push(s));
    return { err: null, got, ms: performance.now() - t0 };
  } catch (err) {
    return { err, got, ms: performance.now() - t0 };
  }
}

describe('pub/sub subscriber on a corrupt ring', () => {
  function setup(capacity = 4096, maxMessage = 1024) {
    const ch = Channel.create(ref(), { capacity, maxMessage });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const ring = ch.rings[0]!;
    const poll = (deliver: (s: string) => void) => sub.poll((b, o, l) => deliver(new TextDecoder().decode(b.subarray(o, o + l))));
    return { ch, sub, pub, ring, poll };
  }

  it('raises CORRUPT_RING within a bound for a pad of length 0, after delivering what came before', () => {
    const { ch, pub, ring, poll } = setup();
    expect(pub.tryPublish(bytes('good'))).toBe(true);
    const at = Atomics.load(ring.ctl, RingWord.tail);
    Atomics.store(ring.words, at >>> 2, PAD_FLAG >>> 0);
    const { err, got, ms } = pollUntilError(poll);
    expect(got).toEqual(['good']);
    expect((err as ShimmyError).code).toBe(ErrorCode.CORRUPT_RING);
    expect((err as ShimmyError).message).toMatch(new RegExp(`${ch.ref.name}.*position ${at}.*pad of 0 bytes`));
    expect(ms).toBeLessThan(1000);
    ch.close();
  });

  it('raises CORRUPT_RING for a pad that does not run to the end of the ring, or stands at offset 0', () => {
    const { ch, ring, poll } = setup();
    Atomics.store(ring.words, 0, (PAD_FLAG | 16) >>> 0);
    expect(pollUntilError(poll).err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    Atomics.store(ring.words, 0, (PAD_FLAG | ring.capacity) >>> 0);
    const { err, ms } = pollUntilError(poll);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(ms).toBeLessThan(1000);
    ch.close();
  });

  it('delivers nothing of a head claiming 1 GiB against a 1 KiB maximum', () => {
    const { ch, ring, poll } = setup(65536, 1024);
    Atomics.store(ring.words, 0, (VALID_FLAG | (GIB - 1)) >>> 0);
    const { err, got } = pollUntilError(poll);
    expect(got).toEqual([]);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect((err as Error).message).toMatch(/over the channel's maximum of 1024/);
    ch.close();
  });

  it('delivers nothing of a record that would run past the end of the ring', () => {
    const { ch, pub, ring, poll } = setup(4096, 1024);
    // Move the reader near the end of the ring with real traffic, then forge the next head.
    for (let i = 0; i < 4; i++) expect(pub.tryPublish(new Uint8Array(1000))).toBe(true);
    expect(poll(() => {})).toBe(4);
    const at = Atomics.load(ring.ctl, RingWord.tail) & ring.mask;
    expect(at + 8 + 1024).toBeGreaterThan(ring.capacity);
    Atomics.store(ring.words, at >>> 2, (VALID_FLAG | 1024) >>> 0);
    const { err, got } = pollUntilError(poll);
    expect(got).toEqual([]);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect((err as Error).message).toMatch(/runs past the end/);
    ch.close();
  });

  it('raises CORRUPT_RING for a head with neither flag', () => {
    const { ch, ring, poll } = setup();
    Atomics.store(ring.words, 0, 12);
    expect(pollUntilError(poll)).toMatchObject({ err: { code: ErrorCode.CORRUPT_RING }, got: [] });
    ch.close();
  });

  it('stops a ring full of well-formed forged records once it runs a ring ahead of the tail', () => {
    const { ch, ring, poll } = setup(4096, 1024);
    // Every head a valid 0-byte record: the ring never ends, but the tail stays at 0.
    for (let w = 0; w < ring.words.length; w += 2) Atomics.store(ring.words, w, VALID_FLAG);
    const { err, got, ms } = pollUntilError(poll);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(got.length).toBeLessThanOrEqual((2 * ring.capacity) / 8);
    expect(ms).toBeLessThan(1000);
    ch.close();
  });

  it('with the overwrite policy raises CORRUPT_RING for a pad of length 0 and a 1 GiB head', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 1024, slowConsumer: 'overwrite' });
    const sub = ch.subscriber();
    const ring = ch.rings[0]!;
    const poll = (deliver: (s: string) => void) => sub.poll((b, o, l) => deliver(String(l)));
    Atomics.store(ring.words, 0, PAD_FLAG >>> 0);
    let r = pollUntilError(poll);
    expect(r).toMatchObject({ err: { code: ErrorCode.CORRUPT_RING }, got: [] });
    expect(r.ms).toBeLessThan(1000);
    Atomics.store(ring.words, 0, (VALID_FLAG | (GIB - 1)) >>> 0);
    r = pollUntilError(poll);
    expect(r).toMatchObject({ err: { code: ErrorCode.CORRUPT_RING }, got: [] });
    ch.close();
  });

  it('still delivers real traffic with pads and wrap-around (many laps of a small ring)', () => {
    const { ch, pub, poll } = setup(4096, 1024);
    let sent = 0;
    const got: string[] = [];
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < 3; i++) if (pub.tryPublish(bytes(`m${sent}-${'x'.repeat(sent % 700)}`))) sent++;
      poll((s) => got.push(s));
    }
    expect(got.length).toBe(sent);
    expect(got.every((s, i) => s === `m${i}-${'x'.repeat(i % 700)}`)).toBe(true);
    ch.close();
  });
});

describe('stream end on a corrupt ring', () => {
  function setup() {
    const ch = Channel.create(ref('stream'), { mode: 'stream', capacity: 4096, maxMessage: 1024 });
    const a = ch.streamEnd('a');
    const b = ch.streamEnd('b');
    // a writes into ring 0, which b takes from.
    return { ch, a, b, ring: ch.rings[0]! };
  }
  const takeAll = (end: { take(max: number, deliver: (m: Buffer) => void): number }) => (deliver: (s: string) => void) =>
    end.take(64, (m) => deliver(m.toString()));

  it('raises CORRUPT_RING within a bound for a pad of length 0, and frees the read lock', () => {
    const { ch, a, b, ring } = setup();
    expect(a.tryPublish(bytes('first'))).toBe(true);
    const at = Atomics.load(ring.ctl, RingWord.tail);
    Atomics.store(ring.words, at >>> 2, PAD_FLAG >>> 0);
    const { err, got, ms } = pollUntilError(takeAll(b));
    expect(got).toEqual(['first']);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(ms).toBeLessThan(1000);
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
    ch.close();
  });

  it('delivers nothing of a head claiming 1 GiB, frees the lock, and another consumer can take after a repair', () => {
    const { ch, a, b, ring } = setup();
    const b2 = ch.streamEnd('b');
    Atomics.store(ring.words, 0, (VALID_FLAG | (GIB - 1)) >>> 0);
    const { err, got } = pollUntilError(takeAll(b));
    expect(got).toEqual([]);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect((err as Error).message).toMatch(/over the channel's maximum of 1024/);
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
    // The lock is free: with the forged head gone, another consumer takes at once.
    Atomics.store(ring.words, 0, 0);
    expect(a.tryPublish(bytes('after'))).toBe(true);
    const later: string[] = [];
    expect(b2.take(64, (m) => later.push(m.toString()))).toBe(1);
    expect(later).toEqual(['after']);
    ch.close();
  });

  it('delivers nothing of a record that would run past the end of the ring', () => {
    const { ch, a, b, ring } = setup();
    for (let i = 0; i < 4; i++) expect(a.tryPublish(new Uint8Array(1000))).toBe(true);
    expect(b.take(64, () => {})).toBe(4);
    const at = Atomics.load(ring.ctl, RingWord.tail) & ring.mask;
    expect(at + 8 + 1024).toBeGreaterThan(ring.capacity);
    Atomics.store(ring.words, at >>> 2, (VALID_FLAG | 1024) >>> 0);
    const { err, got } = pollUntilError(takeAll(b));
    expect(got).toEqual([]);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
    ch.close();
  });

  it('raises CORRUPT_RING for a shared cursor far from the tail', () => {
    const { ch, a, b, ring } = setup();
    expect(a.tryPublish(bytes('x'))).toBe(true);
    Atomics.store(ring.ctl, RingWord.sharedCursor, 0x40000000);
    Atomics.store(ring.words, 0x40000000 & ring.mask, VALID_FLAG | 1);
    expect(codeOf(() => b.take(64, () => {}))).toBe(ErrorCode.CORRUPT_RING);
    expect(Atomics.load(ring.ctl, RingWord.readLock)).toBe(0);
    ch.close();
  });
});
