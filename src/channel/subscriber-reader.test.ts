import { afterEach, describe, expect, it } from 'vitest';
import { thrown } from '../../test/helpers/errors.js';
import { Channel } from './channel.js';
import { PAD_FLAG, RingWord, VALID_FLAG, type SlowConsumerName } from './layout.js';
import { SlotWord } from './participants.js';
import { SubscriberReader } from './subscriber-reader.js';
import { ErrorCode, type ShimmyError } from '../errors.js';
import { testChannels } from '../../test/helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function setup(options: { capacity?: number; maxMessage?: number; slowConsumer?: SlowConsumerName } = {}) {
  const ch = Channel.create(channels.ref('reader'), { capacity: 4096, maxMessage: 1024, ...options });
  const ring = ch.rings[0]!;
  const pub = ch.publisher();
  const reader = () => new SubscriberReader(ring, ch.claimSlot('subscriber', 0));
  const slotOf = (r: SubscriberReader) => ch.table.snapshot().find((s) => s.index === r.slot)!;
  return { ch, ring, pub, reader, slotOf };
}

/** Polls once; returns what came as [text, seq] pairs and poll's count. */
function take(r: SubscriberReader, max?: number): { n: number; got: Array<[string, number]> } {
  const got: Array<[string, number]> = [];
  const n = r.poll((b, o, l, seq) => got.push([text(b.subarray(o, o + l)), seq]), max);
  return { n, got };
}

describe('SubscriberReader, block policy', () => {
  it('delivers each message in place with its sequence number, from an empty one to one of exactly maxMessage', () => {
    const { ch, pub, reader, slotOf } = setup();
    const r = reader();
    const big = 'm'.repeat(1024);
    for (const m of ['first', '', big]) expect(pub.tryPublish(bytes(m))).toBe(true);
    expect(ch.stats().lag).toBe(3);
    expect(take(r)).toEqual({
      n: 3,
      got: [
        ['first', 0],
        ['', 1],
        [big, 2],
      ],
    });
    expect(r.delivered).toBe(3);
    expect(slotOf(r)).toMatchObject({ cursor: 16 + 8 + 1032, delivered: 3, expectedSeq: 3 });
    expect(ch.stats().lag).toBe(0);
    expect(take(r)).toEqual({ n: 0, got: [] });
    ch.close();
  });

  it('delivers at most `max` messages a poll', () => {
    const { ch, pub, reader } = setup();
    const r = reader();
    for (let i = 0; i < 5; i++) pub.tryPublish(bytes(`m${i}`));
    expect(take(r, 2).got).toEqual([
      ['m0', 0],
      ['m1', 1],
    ]);
    expect(take(r, 2).got.map(([, seq]) => seq)).toEqual([2, 3]);
    expect(take(r, 2).got.map(([, seq]) => seq)).toEqual([4]);
    ch.close();
  });

  it('starts a late subscriber at the committed end, and shows it there in its slot', () => {
    const { ch, ring, pub, reader, slotOf } = setup();
    for (let i = 0; i < 5; i++) pub.tryPublish(bytes(`early-${i}`));
    const r = reader();
    expect(slotOf(r)).toMatchObject({ cursor: 5 * 16, expectedSeq: 5 });
    expect(ch.stats().lag).toBe(0);
    // As if the writer of the next record had died before moving the tail hint.
    pub.tryPublish(bytes('hidden'));
    Atomics.store(ring.ctl, RingWord.tail, 5 * 16);
    const late = reader();
    expect(late.cursor).toBe(6 * 16);
    expect(slotOf(late)).toMatchObject({ cursor: 6 * 16, expectedSeq: 6 });
    expect(take(late).n).toBe(0);
    expect(take(r).got).toEqual([['hidden', 5]]);
    ch.close();
  });

  it('has data exactly while an unread record waits', () => {
    const { ch, pub, reader } = setup();
    const r = reader();
    expect(r.hasData()).toBe(false);
    pub.tryPublish(bytes('x'));
    expect(r.hasData()).toBe(true);
    take(r);
    expect(r.hasData()).toBe(false);
    ch.close();
  });

  it('wakes a writer waiting for space when it consumes', async () => {
    const { ch, ring, pub, reader } = setup();
    const r = reader();
    while (pub.tryPublish(new Uint8Array(500)));
    const t0 = performance.now();
    let consumed = false;
    const woke = ring.space.waitAsync(() => consumed, 10_000);
    consumed = take(r).n > 0;
    expect(await woke).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    ch.close();
  });

  it('delivers pads and wrap-around across the 2^32 position wrap, in order', () => {
    const { ch, ring, pub, reader } = setup();
    for (const w of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ring.ctl, w, 0xfffff000);
    const r = reader();
    const got: string[] = [];
    for (let i = 0; i < 60; i++) {
      expect(pub.tryPublish(bytes(`${i}-${'x'.repeat((i * 37) % 900)}`))).toBe(true);
      for (const [m, seq] of take(r).got) got.push(`${seq}:${m}`);
    }
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `${i}:${i}-${'x'.repeat((i * 37) % 900)}`));
    expect(r.cursor).toBe(Atomics.load(ring.ctl, RingWord.tail));
    expect(r.cursor).toBeLessThan(0xfffff000);
    ch.close();
  });
});

describe('SubscriberReader heartbeat', () => {
  it('checks its slot every 1024 polls and fails with CLOSED once the slot was reclaimed', () => {
    const { ch, reader } = setup();
    const r = reader();
    ch.table.release(r.slot, ch.table.word(r.slot, SlotWord.gen));
    for (let i = 1; i < 1024; i++) r.poll(() => {});
    expect(thrown(() => r.poll(() => {}))).toMatchObject({
      code: ErrorCode.CLOSED,
      message:
        'This subscriber was declared dead and its slot reclaimed (no heartbeat for too long). ' +
        'Subscribe again; keep the event loop or poll loop turning so heartbeats continue',
    });
    ch.close();
  });

  it('refreshes its heartbeat while the slot is its own', () => {
    const { ch, reader } = setup();
    const r = reader();
    ch.table.setWord(r.slot, SlotWord.heartbeat, 0xfff00000);
    for (let i = 0; i < 1024; i++) r.poll(() => {});
    const beat = ch.table.word(r.slot, SlotWord.heartbeat);
    expect(beat).not.toBe(0xfff00000);
    expect(beat).toBeLessThanOrEqual(ch.table.now());
    ch.close();
  });

  it('fails when its slot went to another participant, or was freed', () => {
    const { ch, reader } = setup();
    const r = reader();
    const gen = ch.table.word(r.slot, SlotWord.gen);
    // Reused: still active, but a later generation.
    ch.table.setWord(r.slot, SlotWord.gen, gen + 1);
    expect(thrown(() => r.heartbeat()).code).toBe(ErrorCode.CLOSED);
    // Freed: same generation, no longer active.
    ch.table.setWord(r.slot, SlotWord.gen, gen);
    r.heartbeat();
    ch.table.release(r.slot, gen);
    expect(thrown(() => r.heartbeat()).code).toBe(ErrorCode.CLOSED);
    ch.close();
  });
});

describe('SubscriberReader after its slot went to another participant', () => {
  for (const slowConsumer of ['block', 'overwrite'] as const) {
    it(`does not write its cursor into the slot, even when the handler ran before it noticed (${slowConsumer})`, () => {
      const { ch, pub, reader } = setup({ slowConsumer });
      const r = reader();
      const gen = ch.table.word(r.slot, SlotWord.gen);
      const theirs = 0x12345678;
      expect(pub.tryPublish(bytes('one'))).toBe(true);
      let handled = 0;
      const err = thrown(() =>
        r.poll(() => {
          handled++;
          // Reclaimed and reused while the handler ran (another process, a later generation).
          ch.table.setWord(r.slot, SlotWord.gen, gen + 1);
          ch.table.setWord(r.slot, SlotWord.cursor, theirs);
        }),
      );
      expect(handled).toBe(1);
      expect(err.code).toBe(ErrorCode.CLOSED);
      expect(ch.table.word(r.slot, SlotWord.cursor)).toBe(theirs);
      ch.close();
    });
  }
});

describe('SubscriberReader on a corrupt ring, block policy', () => {
  it('refuses an unaligned cursor', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    ring.words[1] = VALID_FLAG | 1;
    r.cursor = 4;
    expect(thrown(() => take(r)).message).toMatch(/is corrupt at position 4: unaligned position\./);
    ch.close();
  });

  it('refuses a record longer than maxMessage that would fit the ring', () => {
    const { ch, ring, reader } = setup({ capacity: 65536 });
    const r = reader();
    Atomics.store(ring.words, 0, (VALID_FLAG | 1025) >>> 0);
    const got: number[] = [];
    expect(thrown(() => r.poll((_b, _o, l) => got.push(l))).message).toMatch(
      /at position 0: record length 1025 at offset 0 is over the channel's maximum of 1024\./,
    );
    expect(got).toEqual([]);
    ch.close();
  });

  it('refuses a record running past the end of the ring by its header', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    r.cursor = 4080;
    // Exactly as long as the room left: a pad of this length would be fine, a record is not.
    Atomics.store(ring.words, 4080 / 4, (VALID_FLAG | 16) >>> 0);
    const got: number[] = [];
    expect(thrown(() => r.poll((_b, _o, l) => got.push(l))).message).toMatch(/record length 16 at offset 4080 runs past the end of the 4096-byte ring/);
    expect(got).toEqual([]);
    ch.close();
  });

  it('runs at most a ring ahead of the tail hint: forged records end in CORRUPT_RING after exactly two rings of them', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    for (let w = 0; w < ring.words.length; w += 2) {
      ring.words[w] = VALID_FLAG;
      ring.words[w + 1] = w / 2;
    }
    let delivered = 0;
    let err: ShimmyError | null = null;
    try {
      while (delivered < 10_000) r.poll(() => delivered++, 1);
    } catch (e) {
      err = e as ShimmyError;
    }
    expect(delivered).toBe(1024);
    expect(err).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(err!.message).toMatch(/at position 8192: position is 8192 bytes past the tail 0, more than the ring holds\./);
    ch.close();
  });
});

describe('SubscriberReader, overwrite policy', () => {
  const overwrite = (maxMessage = 1024) => setup({ slowConsumer: 'overwrite', maxMessage });

  it('delivers in order with sequence numbers and no loss while it keeps up, through pads and a record ending at the ring end', () => {
    const { ch, ring, pub, reader, slotOf } = overwrite();
    const r = reader();
    // 1032 + 1008 + 1032 + 1024 bytes end exactly at 4096, with no pad; the last record needs one.
    const sizes = [1024, 1000, 1024, 1016, 1024, 1000, 1024, 1024];
    const got: Array<[string, number]> = [];
    sizes.forEach((size, i) => {
      expect(pub.tryPublish(bytes(String(i).repeat(size)))).toBe(true);
      const { n, got: g } = take(r);
      expect(n).toBe(1);
      got.push(...g);
      if (i === 3) expect(Atomics.load(ring.ctl, RingWord.tail)).toBe(4096);
      expect(slotOf(r)).toMatchObject({ delivered: i + 1, expectedSeq: i + 1, lost: 0, cursor: r.cursor });
    });
    expect(got).toEqual(sizes.map((size, i) => [String(i).repeat(size), i]));
    expect(ring.words[3072 / 4]).toBe((PAD_FLAG | 1024) >>> 0);
    expect(r.lost).toBe(0);
    ch.close();
  });

  it('delivers at most `max` messages a poll, counting each once', () => {
    const { ch, pub, reader, slotOf } = overwrite();
    const r = reader();
    for (let i = 0; i < 5; i++) pub.tryPublish(bytes(`m${i}`));
    expect(take(r, 2)).toEqual({
      n: 2,
      got: [
        ['m0', 0],
        ['m1', 1],
      ],
    });
    expect(slotOf(r)).toMatchObject({ delivered: 2, expectedSeq: 2, lost: 0 });
    expect(take(r, 2).got.map(([, s]) => s)).toEqual([2, 3]);
    expect(take(r, 2)).toEqual({ n: 1, got: [['m4', 4]] });
    expect(slotOf(r)).toMatchObject({ delivered: 5, expectedSeq: 5, lost: 0 });
    expect([r.delivered, r.lost]).toEqual([5, 0]);
    ch.close();
  });

  it('is not lapped by a writer that filled exactly the ring behind it', () => {
    const { ch, ring, pub, reader } = overwrite();
    const r = reader();
    // Seven 512-byte records and one of 504 end at 4088: the head zeroed after them is the
    // 8 bytes before the reader's first record.
    for (let i = 0; i < 7; i++) pub.tryPublish(new Uint8Array(504).fill(65 + i));
    pub.tryPublish(new Uint8Array(496).fill(72));
    expect(Atomics.load(ring.ctl, RingWord.tailIntent)).toBe(4096);
    const { n, got } = take(r);
    expect(n).toBe(8);
    expect(got.map(([m, seq]) => `${m[0]}${m.length}:${seq}`)).toEqual(['A504:0', 'B504:1', 'C504:2', 'D504:3', 'E504:4', 'F504:5', 'G504:6', 'H496:7']);
    expect(r.lost).toBe(0);
    ch.close();
  });

  it('when lapped, has data even where the head at its cursor is zero, resumes at the newest record and counts the rest as lost', () => {
    const { ch, ring, pub, reader, slotOf } = overwrite();
    const r = reader();
    // Sixteen 512-byte records: exactly two laps, so the head at the reader's cursor is the zero one.
    for (let i = 0; i < 16; i++) pub.tryPublish(bytes(`msg-${i}`.padEnd(504, '.')));
    expect(Atomics.load(ring.words, 0)).toBe(0);
    expect(r.hasData()).toBe(true);
    const { n, got } = take(r);
    expect(n).toBe(1);
    expect(got.map(([m, seq]) => [m.split('.')[0], seq])).toEqual([['msg-15', 15]]);
    expect(r.lost).toBe(15);
    expect(slotOf(r)).toMatchObject({ lost: 15, delivered: 1, expectedSeq: 16 });
    expect(r.hasData()).toBe(false);
    expect(ch.stats().lost).toBe(15);
    ch.close();
  });

  it('counts lost messages across the 2^32 wrap of sequence numbers', () => {
    const { ch, ring, pub, reader } = overwrite();
    Atomics.store(ring.ctl, RingWord.nextSeq, 0xfffffffc);
    const r = reader();
    pub.tryPublish(bytes('first'));
    expect(take(r).got).toEqual([['first', 0xfffffffc]]);
    for (let i = 0; i < 20; i++) pub.tryPublish(bytes(`m${i}`.padEnd(504, '.')));
    const { got } = take(r);
    // 0xfffffffd + 19 wraps to 16: the 19 before it were lost.
    expect(got.map(([m, seq]) => [m.split('.')[0], seq])).toEqual([['m19', 16]]);
    expect(r.lost).toBe(19);
    ch.close();
  });

  it('counts nothing as lost when sequence numbers go back (a renumbered ring)', () => {
    const { ch, ring, pub, reader } = overwrite();
    const r = reader();
    for (let i = 0; i < 3; i++) pub.tryPublish(bytes(`m${i}`));
    expect(take(r).n).toBe(3);
    Atomics.store(ring.ctl, RingWord.nextSeq, 0);
    pub.tryPublish(bytes('again'));
    expect(take(r).got).toEqual([['again', 0]]);
    expect(r.lost).toBe(0);
    pub.tryPublish(bytes('next'));
    expect(take(r).got).toEqual([['next', 1]]);
    expect(r.lost).toBe(0);
    ch.close();
  });

  it('while a claim that laps it is open, resumes at the tail and has no data until the claim is committed', () => {
    const { ch, pub, reader } = overwrite(2040);
    const r = reader();
    pub.tryPublish(bytes('A'.repeat(2040)));
    pub.tryPublish(bytes('B'.repeat(2040)));
    // The claim's reach zeroes the head of B (the newest record): B is not safe to resume at.
    const claim = pub.tryClaim(2040)!;
    expect(take(r).n).toBe(0);
    expect(r.cursor).toBe(4096);
    expect(r.hasData()).toBe(false);
    claim.bytes.set(bytes('C'));
    claim.commit(1);
    expect(take(r).got).toEqual([['C', 2]]);
    expect(r.lost).toBe(2);
    ch.close();
  });

  it('goes on at the newest record when the writer laps it while it looks at a head', () => {
    const { ch, ring, pub, reader } = overwrite();
    const r = reader();
    pub.tryPublish(bytes('A'.repeat(100)));
    pub.tryPublish(bytes('B'.repeat(100)));
    expect(take(r, 1).got).toEqual([['A'.repeat(100), 0]]);
    // Between its lap check and its look at B's head, the writer laps it: B's head lies
    // in the payload of a newer record now.
    const mask = ring.mask;
    let lapped = false;
    Object.defineProperty(ring, 'mask', {
      configurable: true,
      get() {
        if (!lapped) {
          lapped = true;
          for (let i = 0; i < 20; i++) expect(pub.tryPublish(bytes(`n${i}-`.padEnd(200, '.')))).toBe(true);
        }
        return mask;
      },
    });
    try {
      const { got } = take(r);
      expect(got.map(([m, seq]) => [m.split('-')[0], seq])).toEqual([['n19', 21]]);
      expect(r.lost).toBe(20);
    } finally {
      Object.defineProperty(ring, 'mask', { value: mask, writable: true, configurable: true });
    }
    ch.close();
  });

  it('discards a record the writer overwrote while it was copied, and counts it lost', () => {
    const { ch, ring, pub, reader } = overwrite();
    const r = reader();
    pub.tryPublish(bytes('A'.repeat(400)));
    const subarray = ring.bytes.subarray.bind(ring.bytes);
    let lapped = false;
    ring.bytes.subarray = (start?: number, end?: number) => {
      const view = subarray(start, end);
      if (!lapped) {
        lapped = true;
        for (let i = 0; i < 20; i++) expect(pub.tryPublish(bytes(`n${i}-`.padEnd(400, '.')))).toBe(true);
      }
      return view;
    };
    const { got } = take(r);
    expect(got.map(([m, seq]) => [m.split('-')[0], seq])).toEqual([['n19', 20]]);
    expect(r.lost).toBe(20);
    ch.close();
  });

  it('takes at most one ring of records a poll', () => {
    const { ch, ring, reader } = overwrite();
    const r = reader();
    // Forged 0-byte records everywhere; tail hints that make positions 8..4104 readable.
    for (let w = 0; w < ring.words.length; w += 2) {
      ring.words[w] = VALID_FLAG;
      ring.words[w + 1] = w / 2;
    }
    Atomics.store(ring.ctl, RingWord.tail, 4096);
    Atomics.store(ring.ctl, RingWord.tailIntent, 4104);
    r.cursor = 8;
    expect(r.poll(() => {})).toBe(512);
    expect(r.cursor).toBe(8 + 4096);
    ch.close();
  });
});

describe('SubscriberReader on a corrupt ring, overwrite policy', () => {
  function at(pos: number, head: number, capacity = 4096) {
    const { ch, ring, reader } = setup({ slowConsumer: 'overwrite', capacity });
    Atomics.store(ring.ctl, RingWord.tail, pos);
    Atomics.store(ring.ctl, RingWord.tailIntent, pos + 8);
    const r = reader();
    expect(r.cursor).toBe(pos);
    Atomics.store(ring.words, (pos & ring.mask) >>> 2, head >>> 0);
    const got: number[] = [];
    const err = thrown(() => r.poll((_b, _o, l) => got.push(l)));
    expect(got).toEqual([]);
    ch.close();
    return err;
  }

  it('refuses pads that do not run exactly to the end of the ring, or stand at offset 0', () => {
    expect(at(0, PAD_FLAG | 4096)).toMatchObject({ code: ErrorCode.CORRUPT_RING });
    expect(at(0, PAD_FLAG | 4096).message).toMatch(/at position 0: pad of 4096 bytes at offset 0 \(a pad runs exactly to the end of the ring\)\./);
    expect(at(4000, PAD_FLAG | 100).message).toMatch(/at position 4000: pad of 100 bytes at offset 4000/);
  });

  it('refuses records too long for the channel or running past the ring end, and heads of neither kind', () => {
    expect(at(4080, VALID_FLAG | 16).message).toMatch(/record length 16 at offset 4080 runs past the end of the 4096-byte ring/);
    expect(at(3072, VALID_FLAG | 1020).message).toMatch(/record length 1020 at offset 3072 runs past the end/);
    expect(at(8, VALID_FLAG | 1025, 65536).message).toMatch(/record length 1025 at offset 8 is over the channel's maximum of 1024/);
    expect(at(16, 12).message).toMatch(/at position 16: head word 0xc at offset 16 is neither a record nor a pad\./);
  });

  it('refuses an unaligned cursor and an unaligned resume point', () => {
    const { ch, ring, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    ring.words[1] = VALID_FLAG | 1;
    r.cursor = 4;
    expect(thrown(() => take(r)).message).toMatch(/at position 4: unaligned position\./);
    r.cursor = 0;
    Atomics.store(ring.ctl, RingWord.tail, 8192);
    Atomics.store(ring.ctl, RingWord.tailIntent, 8200);
    Atomics.store(ring.ctl, RingWord.lastRecord, 8092);
    expect(thrown(() => take(r)).message).toMatch(/at position 8092: unaligned resume point\./);
    ch.close();
  });
});
