import { afterEach, describe, expect, it } from 'vitest';
import { quietPeriod } from '../../test/helpers/wait.js';
import { Channel } from './channel.js';
import { PAD_FLAG, RING_CONTROL, RING_CONTROL_BYTES, RingWord, VALID_FLAG } from './layout.js';
import { channelKey } from './names.js';
import { SlotWord } from './participants.js';
import { RingView } from './ring-view.js';
import { ErrorCode } from '../errors.js';
import { Segment } from '../shm/segment.js';
import { futexWaitAsync } from '../shm/native.js';
import { testChannels } from '../../test/helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const bytes = (s: string) => new TextEncoder().encode(s);

function pubsub(options: { capacity?: number; maxMessage?: number } = {}) {
  const ref = channels.ref('view');
  const ch = Channel.create(ref, { capacity: 4096, maxMessage: 1024, ...options });
  return { ref, ch, ring: ch.rings[0]! };
}

describe('RingView layout', () => {
  it('puts each ring control block and data where the layout says', () => {
    const ref = channels.ref('view');
    const ch = Channel.create(ref, { mode: 'stream', capacity: 8192, maxMessage: 1024 });
    const [r0, r1] = ch.rings as [RingView, RingView];
    expect([r0.ctl.byteOffset, r0.ctl.length]).toEqual([RING_CONTROL, RING_CONTROL_BYTES / 4]);
    expect([r1.ctl.byteOffset, r1.ctl.length]).toEqual([RING_CONTROL + RING_CONTROL_BYTES, RING_CONTROL_BYTES / 4]);
    expect([r1.words.byteOffset, r1.words.length, r1.bytes.length]).toEqual([ch.header.headerBytes + 8192, 2048, 8192]);
    expect(r1.mask).toBe(8191);
    // Side b writes ring 1: its tail word moves, in the segment, where another process looks.
    const b = ch.streamEnd('b');
    expect(b.tryPublish(bytes('hello'))).toBe(true);
    const raw = new Uint32Array(r0.ctl.buffer);
    expect(raw[(RING_CONTROL + RING_CONTROL_BYTES) / 4 + RingWord.tail]).toBe(16);
    expect(raw[RING_CONTROL / 4 + RingWord.tail]).toBe(0);
    ch.close();
  });

  it('names the channel in corrupt-ring errors, or "unnamed" without a label', () => {
    const { ch, ring } = pubsub();
    const err = ring.corrupt(-8, 'something odd');
    expect(err.code).toBe(ErrorCode.CORRUPT_RING);
    expect(err.message).toBe(
      `Channel ${ch.ref.namespace}/${ch.ref.name}, ring 0, is corrupt at position 4294967288: something odd. ` +
        'Remove and recreate the channel; something other than Shimmy wrote into its segment',
    );
    const fake = { buffer: ring.ctl.buffer, wordAddress: () => null, attached: false } as unknown as Segment;
    const bare = new RingView(fake, {
      index: 0,
      dataOffset: ch.header.headerBytes,
      capacity: 4096,
      maxMessage: 1024,
      blocking: true,
      shared: false,
      table: ch.table,
    });
    expect(bare.label).toBe('unnamed');
    expect(bare.corrupt(16, 'x').message).toMatch(/^Channel unnamed, ring 0, is corrupt at position 16: x\. /);
    ch.close();
  });
});

describe('RingView notifiers', () => {
  it('count pokes and waiters in the control words', async () => {
    const { ch, ring } = pubsub();
    ring.data.poke();
    ring.data.poke();
    ring.space.poke();
    expect([ring.ctl[RingWord.dataNotify], ring.ctl[RingWord.spaceNotify]]).toEqual([2, 1]);
    expect(await ring.data.waitAsync(() => true, 1000)).toBe(true);
    expect(ring.space.waitSync(() => true, 1000)).toBe(true);
    expect([ring.ctl[RingWord.dataWaiters], ring.ctl[RingWord.spaceWaiters]]).toEqual([0, 0]);
    ch.close();
  });

  it.each([
    ['data', RingWord.dataNotify],
    ['space', RingWord.spaceNotify],
  ] as const)('wakes a waiter on the %s futex word the layout documents, as another process waits on it', async (which, word) => {
    const { ref, ch, ring } = pubsub();
    ring[which].poke();
    // A second mapping of the segment, as another process has.
    const other = Segment.attach({ key: channelKey(ref), label: 'other' });
    const seen = Atomics.load(ring.ctl, word);
    const t0 = performance.now();
    const woken = futexWaitAsync(other.wordAddress(RING_CONTROL + word * 4), seen, 10e9);
    // Nothing to await here: give the worker thread a moment to fall asleep, so that a poke
    // on the wrong word would leave it sleeping (a correct poke wakes it either way).
    await quietPeriod(50);
    ring[which].poke();
    await woken;
    expect(performance.now() - t0).toBeLessThan(5000);
    other.detach();
    ch.close();
  });
});

describe('RingView.readFloor and slowest', () => {
  it('is the slowest live subscriber within a ring of the tail, ignoring cursors ahead of it or more than a ring behind', () => {
    const { ch, ring } = pubsub();
    const T = 100_000;
    const at = (behind: number) => {
      const slot = ch.claimSlot('subscriber', 0);
      ch.table.setWord(slot, SlotWord.cursor, T - behind);
      return slot;
    };
    expect(ring.readFloor(T)).toBe(T);
    const slots = [at(100), at(3000), at(50), at(-8), at(4097)];
    ch.claimSlot('publisher', 0);
    expect(ring.readFloor(T)).toBe(T - 3000);
    // A subscriber exactly a ring behind still holds the writer back.
    ch.table.setWord(slots[4]!, SlotWord.cursor, T - 4096);
    expect(ring.readFloor(T)).toBe(T - 4096);
    ch.close();
  });

  it('counts across the 2^32 wrap of positions', () => {
    const { ch, ring } = pubsub();
    const slot = ch.claimSlot('subscriber', 0);
    ch.table.setWord(slot, SlotWord.cursor, 0xfffff800);
    expect(ring.readFloor(0x400)).toBe(0xfffff800);
    ch.close();
  });

  it('lists the subscribers at the floor as the slowest', () => {
    const { ch, ring } = pubsub();
    Atomics.store(ring.ctl, RingWord.tail, 50_000);
    const at = (cursor: number) => {
      const slot = ch.claimSlot('subscriber', 0);
      ch.table.setWord(slot, SlotWord.cursor, cursor);
      return slot;
    };
    const a = at(49_000);
    const b = at(47_000);
    at(50_000);
    const d = at(47_000);
    expect(ring.slowest()).toEqual([b, d]);
    ch.table.setWord(b, SlotWord.cursor, 50_000);
    ch.table.setWord(d, SlotWord.cursor, 50_000);
    expect(ring.slowest()).toEqual([a]);
    ch.close();
  });

  it('is the shared cursor on a stream ring', () => {
    const ref = channels.ref('view');
    const ch = Channel.create(ref, { mode: 'stream', capacity: 4096, maxMessage: 1024 });
    const ring = ch.rings[0]!;
    Atomics.store(ring.ctl, RingWord.sharedCursor, 1234);
    expect(ring.readFloor(5000)).toBe(1234);
    ch.close();
  });
});

describe('RingView.committedEnd', () => {
  it('follows published heads past a lagging tail hint, across a pad, to the first zero head', () => {
    const { ch, ring } = pubsub();
    const pub = ch.publisher();
    // Four 1008-byte records, then one that needs a 64-byte pad at 4032 and lands at 0.
    for (let i = 0; i < 5; i++) expect(pub.tryPublish(new Uint8Array(1000).fill(i + 1))).toBe(true);
    expect(ring.ctl[RingWord.tail]).toBe(4096 + 1008);
    expect(ring.words[4032 / 4]).toBe((PAD_FLAG | 64) >>> 0);
    // As if the writers of the last three records had died before moving the hints.
    ring.ctl[RingWord.tail] = 2016;
    ring.ctl[RingWord.nextSeq] = 2;
    expect(ring.committedEnd()).toEqual({ pos: 4096 + 1008, nextSeq: 5 });
    ch.close();
  });

  it('takes the next sequence number from records only, never from a pad', () => {
    const { ch, ring } = pubsub();
    const pub = ch.publisher();
    for (let i = 0; i < 4; i++) expect(pub.tryPublish(new Uint8Array(1000))).toBe(true);
    // A claim that needs a pad: the pad is committed at once, the record is not yet.
    const claim = pub.tryClaim(1000)!;
    expect(ring.ctl[RingWord.tail]).toBe(4096);
    ring.words[4032 / 4 + 1] = 77;
    ring.ctl[RingWord.tail] = 4032;
    expect(ring.committedEnd()).toEqual({ pos: 4096, nextSeq: 4 });
    claim.abort();
    ch.close();
  });

  it('passes a record that ends exactly at the end of the ring', () => {
    const { ch, ring } = pubsub();
    const pub = ch.publisher();
    for (let i = 0; i < 4; i++) expect(pub.tryPublish(new Uint8Array(1016))).toBe(true);
    ring.ctl[RingWord.tail] = 2048;
    ring.ctl[RingWord.nextSeq] = 2;
    expect(ring.committedEnd()).toEqual({ pos: 4096, nextSeq: 4 });
    ch.close();
  });

  it('stops at a pad of length 0 and at a record running past the end of the ring', () => {
    const { ch, ring } = pubsub();
    Atomics.store(ring.ctl, RingWord.tail, 8192 + 64);
    Atomics.store(ring.ctl, RingWord.nextSeq, 9);
    Atomics.store(ring.words, 64 / 4, PAD_FLAG >>> 0);
    expect(ring.committedEnd()).toEqual({ pos: 8192 + 64, nextSeq: 9 });
    Atomics.store(ring.ctl, RingWord.tail, 3584);
    Atomics.store(ring.words, 3584 / 4, (VALID_FLAG | 1024) >>> 0);
    expect(ring.committedEnd()).toEqual({ pos: 3584, nextSeq: 9 });
    ch.close();
  });

  it('scans at most one ring of heads when every head is a forged record', () => {
    const { ch, ring } = pubsub();
    for (let w = 0; w < ring.words.length; w += 2) {
      ring.words[w] = VALID_FLAG;
      ring.words[w + 1] = w;
    }
    Atomics.store(ring.ctl, RingWord.tail, 0xfffffff0);
    // Records of 8 bytes from -16, while at most 4096 bytes are scanned: 513 of them.
    expect(ring.committedEnd()).toEqual({ pos: 4096 - 16 + 8, nextSeq: (4096 - 16) / 4 + 1 });
    ch.close();
  });
});

describe('RingView.badHead', () => {
  it('says why a head could not have been written where it stands', () => {
    const { ch, ring } = pubsub();
    const cases: Array<[number, number, string | null]> = [
      [VALID_FLAG | 8, 4, 'record at unaligned offset 4'],
      [PAD_FLAG | 96, 4000, null],
      [PAD_FLAG | 100, 4000, 'pad of 100 bytes at offset 4000 (a pad runs exactly to the end of the ring)'],
      [PAD_FLAG | 4096, 0, 'pad of 4096 bytes at offset 0 (a pad runs exactly to the end of the ring)'],
      [12, 0, 'head word 0xc at offset 0 is neither a record nor a pad'],
      [PAD_FLAG | VALID_FLAG | 16, 8, 'head word 0xc0000010 at offset 8 is neither a record nor a pad'],
      [VALID_FLAG | 1024, 0, null],
      [VALID_FLAG | 1025, 0, "record length 1025 at offset 0 is over the channel's maximum of 1024"],
      [VALID_FLAG | 1016, 3072, null],
      [VALID_FLAG | 16, 4080, 'record length 16 at offset 4080 runs past the end of the 4096-byte ring'],
      [VALID_FLAG | 1017, 3072, 'record length 1017 at offset 3072 runs past the end of the 4096-byte ring'],
    ];
    for (const [head, idx, why] of cases) expect([head.toString(16), idx, ring.badHead(head >>> 0, idx)]).toEqual([head.toString(16), idx, why]);
    ch.close();
  });
});
