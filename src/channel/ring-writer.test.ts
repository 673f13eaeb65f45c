import { afterEach, describe, expect, it } from 'vitest';
import { thrown } from '../../test/helpers/errors.js';
import { Channel } from './channel.js';
import { PAD_FLAG, REMOTE_FLAG, RingWord, VALID_FLAG, type SlowConsumerName } from './layout.js';
import { SlotWord } from './participants.js';
import { RingWriter, checkRecords } from './ring-writer.js';
import { recordsOf } from '../../test/helpers/records.js';
import { SubscriberReader } from './subscriber-reader.js';
import type { Publisher } from './endpoints.js';
import { ErrorCode } from '../errors.js';
import { testChannels } from '../../test/helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

function setup(options: { capacity?: number; maxMessage?: number; slowConsumer?: SlowConsumerName } = {}) {
  const ch = Channel.create(channels.ref('writer'), { capacity: 4096, maxMessage: 1024, ...options });
  const ring = ch.rings[0]!;
  /** A subscriber's reader, to see sequence numbers and the cursor. */
  const reader = () => new SubscriberReader(ring, ch.claimSlot('subscriber', 0));
  /** Publisher slots, oldest first. */
  const publisherSlots = () =>
    ch.table
      .snapshot()
      .filter((s) => s.role === 'publisher')
      .map((s) => s.index);
  /** As if the process of this participant slot had died: its slot is no longer active. */
  const kill = (slot: number) => ch.table.release(slot, ch.table.word(slot, SlotWord.gen));
  return { ch, ring, reader, publisherSlots, kill };
}

/** Everything available now, as `seq:text`. */
function drain(r: SubscriberReader): string[] {
  const got: string[] = [];
  r.poll((b, o, l, seq) => got.push(`${seq}:${text(b.subarray(o, o + l))}`));
  return got;
}

/** Publishes `size`-byte messages (filled with '0', '1', ...) until the ring refuses one; how many went in (at most 100). */
function fill(pub: Publisher, size: number): number {
  let n = 0;
  while (n < 100 && pub.tryPublish(new Uint8Array(size).fill(48 + (n % 10)))) n++;
  return n;
}

describe('RingWriter, shared publishers', () => {
  it('hold the write lock only from claim to commit, and no one else writes meanwhile', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const p1 = ch.publisher();
    const p2 = ch.publisher();
    expect(p1.tryPublish(bytes('a'))).toBe(true);
    expect(p2.tryPublish(bytes('b'))).toBe(true);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    const claim = p1.tryClaim(10)!;
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).not.toBe(0);
    expect(p2.tryPublish(bytes('c'))).toBe(false);
    expect(p2.tryClaim(1)).toBeNull();
    claim.bytes.set(bytes('claimed'));
    expect(claim.commit(7)).toBe(2);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(p2.tryPublish(bytes('c'))).toBe(true);
    expect(drain(r)).toEqual(['0:a', '1:b', '2:claimed', '3:c']);
    ch.close();
  });

  it('free the lock when a claim is aborted, and publish nothing of it', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const p1 = ch.publisher();
    const p2 = ch.publisher();
    const claim = p1.tryClaim(100)!;
    claim.bytes.set(bytes('never'));
    claim.abort();
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(p2.tryPublish(bytes('next'))).toBe(true);
    expect(p1.tryPublish(bytes('more'))).toBe(true);
    expect(drain(r)).toEqual(['0:next', '1:more']);
    ch.close();
  });

  it("closing one leaves another's open claim holding the lock", () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const p1 = ch.publisher();
    const p2 = ch.publisher();
    const claim = p1.tryClaim(10)!;
    const held = Atomics.load(ring.ctl, RingWord.writeLock);
    p2.close();
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(held);
    const p3 = ch.publisher();
    expect(p3.tryPublish(bytes('late'))).toBe(false);
    claim.bytes.set(bytes('first'));
    claim.commit(5);
    expect(p3.tryPublish(bytes('late'))).toBe(true);
    expect(drain(r)).toEqual(['0:first', '1:late']);
    ch.close();
  });

  it('refuse commit beyond the claim (and drop it), or of a negative length; commit(0) publishes an empty message', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const pub = ch.publisher();
    const other = ch.publisher();
    expect(thrown(() => pub.tryClaim(100)!.commit(101))).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'commit(101) exceeds the 100 bytes claimed. Claim the full size up front',
    });
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(other.tryPublish(bytes('other'))).toBe(true);
    expect(thrown(() => pub.tryClaim(100)!.commit(-1)).message).toBe('commit(-1) exceeds the 100 bytes claimed. Claim the full size up front');
    expect(pub.tryClaim(100)!.commit(0)).toBe(1);
    expect(drain(r)).toEqual(['0:other', '1:']);
    ch.close();
  });

  it('take the lock over from a dead writer and go on after the records it published', () => {
    const { ch, ring, reader, publisherSlots, kill } = setup();
    const r = reader();
    const dying = ch.publisher();
    dying.tryPublish(bytes('one'));
    const hint = Atomics.load(ring.ctl, RingWord.tail);
    dying.tryPublish(bytes('two'));
    // It died after publishing the head of 'two', holding the lock, before moving the hints.
    const [slot] = publisherSlots();
    Atomics.store(ring.ctl, RingWord.tail, hint);
    Atomics.store(ring.ctl, RingWord.nextSeq, 1);
    Atomics.store(ring.ctl, RingWord.writeLock, ch.table.token(slot!));
    kill(slot!);
    const next = ch.publisher();
    expect(next.tryPublish(bytes('three'))).toBe(true);
    expect(drain(r)).toEqual(['0:one', '1:two', '2:three']);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(ch.stats().messages).toBe(3);
    ch.close();
  });
});

describe('RingWriter limits', () => {
  it('takes messages from 0 bytes up to exactly maxMessage and refuses one byte more, for shared and exclusive publishers', () => {
    for (const exclusive of [false, true]) {
      const { ch, reader } = setup({ maxMessage: 100 });
      const r = reader();
      const pub = ch.publisher({ exclusive });
      expect(pub.tryPublish(new Uint8Array(0))).toBe(true);
      expect(pub.tryPublish(bytes('y'.repeat(100)))).toBe(true);
      expect(thrown(() => pub.tryPublish(new Uint8Array(101)))).toMatchObject({
        code: ErrorCode.MESSAGE_TOO_LARGE,
        message:
          "A 101-byte message is larger than this channel's maximum of 100 bytes. Split the message, or recreate the channel with a larger --max-message",
      });
      expect(thrown(() => pub.tryClaim(-1)).code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
      expect(drain(r)).toEqual(['0:', `1:${'y'.repeat(100)}`]);
      ch.close();
    }
  });

  it.each([false, true])('fills the ring exactly up to the slowest subscriber and no further (exclusive: %s)', (exclusive) => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const pub = ch.publisher({ exclusive });
    // Seven 512-byte records and one of 504 end at 4088: with the zero head after it, the ring is full.
    for (let i = 0; i < 7; i++) expect(pub.tryPublish(new Uint8Array(504).fill(65 + i))).toBe(true);
    expect(pub.tryPublish(new Uint8Array(496).fill(72))).toBe(true);
    expect(pub.tryPublish(new Uint8Array(0))).toBe(false);
    expect(Atomics.load(ring.ctl, RingWord.tail)).toBe(4088);
    const got = drain(r);
    expect(got.map((m) => `${m.slice(0, 3)}${m.length - 2}`)).toEqual(['0:A504', '1:B504', '2:C504', '3:D504', '4:E504', '5:F504', '6:G504', '7:H496']);
    expect(pub.tryPublish(new Uint8Array(0))).toBe(true);
    ch.close();
  });

  it.each([false, true])('fills the ring exactly up to a subscriber that moved since the publisher last looked (exclusive: %s)', (exclusive) => {
    const { ch, reader } = setup();
    const r = reader();
    const pub = ch.publisher({ exclusive });
    for (let i = 0; i < 7; i++) expect(pub.tryPublish(new Uint8Array(504).fill(65 + i))).toBe(true);
    expect(pub.tryPublish(new Uint8Array(496).fill(72))).toBe(true);
    expect(r.poll(() => {}, 2)).toBe(2);
    // An 8-byte pad at 4088, then 1016 bytes from 4096: with the zero head after it, exactly
    // the ring up to the reader at 1024.
    expect(pub.tryPublish(new Uint8Array(1008).fill(73))).toBe(true);
    expect(pub.tryPublish(new Uint8Array(0))).toBe(false);
    expect(drain(r).map((m) => `${m.slice(0, m.indexOf(':') + 2)}${m.length - m.indexOf(':') - 1}`)).toEqual([
      '2:C504',
      '3:D504',
      '4:E504',
      '5:F504',
      '6:G504',
      '7:H496',
      '8:I1008',
    ]);
    ch.close();
  });

  it.each([false, true])('writes a record that ends exactly at the ring end without a pad, and pads the next one (exclusive: %s)', (exclusive) => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const pub = ch.publisher({ exclusive });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      expect(pub.tryPublish(new Uint8Array(1016).fill(48 + i))).toBe(true);
      got.push(...drain(r));
    }
    expect(Atomics.load(ring.ctl, RingWord.tail)).toBe(4096);
    expect(ring.words[3072 / 4]).toBe((VALID_FLAG | 1016) >>> 0);
    // A second lap: four 1000-byte records end at 4032, the fifth needs a pad of 64.
    for (let i = 4; i < 9; i++) {
      expect(pub.tryPublish(new Uint8Array(1000).fill(48 + i))).toBe(true);
      got.push(...drain(r));
    }
    expect(ring.words[4032 / 4]).toBe((PAD_FLAG | 64) >>> 0);
    expect(Atomics.load(ring.ctl, RingWord.tail)).toBe(8192 + 1008);
    expect(got.map((m) => `${m.slice(0, 3)}${m.length - 2}`)).toEqual([
      '0:01016',
      '1:11016',
      '2:21016',
      '3:31016',
      '4:41000',
      '5:51000',
      '6:61000',
      '7:71000',
      '8:81000',
    ]);
    ch.close();
  });

  it('commits a pad at once: the tail hint passes it while the claim after it is still open', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const pub = ch.publisher();
    for (let i = 0; i < 4; i++) pub.tryPublish(new Uint8Array(1000));
    expect(drain(r)).toHaveLength(4);
    const claim = pub.tryClaim(1000)!;
    expect(ring.words[4032 / 4]).toBe((PAD_FLAG | 64) >>> 0);
    expect(ch.stats().tails).toEqual([4096]);
    claim.bytes.set(bytes('wrapped'));
    claim.commit(7);
    expect(drain(r)).toEqual(['4:wrapped']);
    ch.close();
  });

  it.each([0xfffff800, 0x7ffff800])('fills exactly to the slowest subscriber across a wrap of positions (start %s), for fresh publishers too', (start) => {
    const { ch, ring, reader } = setup();
    for (const w of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ring.ctl, w, start);
    const r = reader();
    const p1 = ch.publisher();
    // Records of 1008 bytes from 2048: 2048, 3056, a pad of 32, 0, 1008; the next one would reach 3032 > 2048 + 8.
    expect(fill(p1, 1000)).toBe(4);
    expect(Atomics.load(ring.ctl, RingWord.tail)).toBe((start + 4096 + 2016 - 2048) >>> 0);
    p1.close();
    expect(ch.publisher().tryPublish(new Uint8Array(1000))).toBe(false);
    const e1 = ch.publisher({ exclusive: true });
    expect(e1.tryPublish(new Uint8Array(1000))).toBe(false);
    expect(drain(r).map((m) => m.slice(0, 3))).toEqual(['0:0', '1:1', '2:2', '3:3']);
    // The exclusive publisher fills the next lap: 2016, 3024, a pad of 64, 0; 1008 would reach 2024 > 2016 + 8.
    expect(fill(e1, 1000)).toBe(3);
    e1.close();
    const e2 = ch.publisher({ exclusive: true });
    expect(e2.tryPublish(new Uint8Array(1000))).toBe(false);
    expect(drain(r).map((m) => m.slice(0, 3))).toEqual(['4:0', '5:1', '6:2']);
    ch.close();
  });

  it('an exclusive publisher fills from the start of a position wrap, refusing more at the slowest subscriber', () => {
    const { ch, ring, reader } = setup();
    for (const w of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ring.ctl, w, 0xfffff800);
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    expect(fill(e, 1000)).toBe(4);
    expect(drain(r).map((m) => m.slice(0, 3))).toEqual(['0:0', '1:1', '2:2', '3:3']);
    ch.close();
  });
});

describe('RingWriter, exclusive publishers', () => {
  it('hold the lock from creation to close: a shared publisher made before cannot write meanwhile', () => {
    const { ch, ring, reader, publisherSlots } = setup();
    const r = reader();
    const shared = ch.publisher();
    const e = ch.publisher({ exclusive: true });
    const token = ch.table.token(publisherSlots()[1]!);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(token);
    expect(Atomics.load(ring.ctl, RingWord.exclusiveWriter)).toBe(token);
    expect(e.tryPublish(bytes('e'))).toBe(true);
    expect(shared.tryPublish(bytes('s'))).toBe(false);
    expect(shared.tryClaim(1)).toBeNull();
    expect(thrown(() => ch.publisher()).code).toBe(ErrorCode.PUBLISHER_CONFLICT);
    e.close();
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(Atomics.load(ring.ctl, RingWord.exclusiveWriter)).toBe(0);
    expect(shared.tryPublish(bytes('s'))).toBe(true);
    expect(ch.publisher().tryPublish(bytes('t'))).toBe(true);
    expect(drain(r)).toEqual(['0:e', '1:s', '2:t']);
    ch.close();
  });

  it('keep the lock when a claim is aborted, and keep numbering', () => {
    const { ch, ring, reader, publisherSlots } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    const token = ch.table.token(publisherSlots()[0]!);
    const claim = e.tryClaim(10)!;
    expect(claim.commit(0)).toBe(0);
    e.tryClaim(10)!.abort();
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(token);
    const next = e.tryClaim(10)!;
    next.bytes.set(bytes('n'));
    expect(next.commit(1)).toBe(1);
    expect(e.tryPublish(bytes('a'))).toBe(true);
    expect(e.tryPublish(bytes('b'))).toBe(true);
    expect(drain(r)).toEqual(['0:', '1:n', '2:a', '3:b']);
    expect(ch.stats()).toMatchObject({ messages: 4, tails: [8 + 16 * 3] });
    ch.close();
  });

  it('resume after a pad their aborted claim left, where readers wait', () => {
    const { ch, reader } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    for (let i = 0; i < 4; i++) e.tryPublish(new Uint8Array(1000));
    expect(drain(r)).toHaveLength(4);
    e.tryClaim(1000)!.abort();
    // The reader passes the pad the claim committed and waits at the ring start.
    expect(drain(r)).toEqual([]);
    expect(r.cursor).toBe(4096);
    expect(e.tryPublish(bytes('x'))).toBe(true);
    expect(drain(r)).toEqual(['4:x']);
    ch.close();
  });

  it('when full, keep the lock and keep publishing at once once there is room', () => {
    const { ch, ring, reader, publisherSlots } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    const n = fill(e, 500);
    expect(n).toBe(7);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(ch.table.token(publisherSlots()[0]!));
    expect(drain(r)).toHaveLength(7);
    expect(e.tryPublish(bytes('next'))).toBe(true);
    expect(drain(r)).toEqual(['7:next']);
    ch.close();
  });

  it('stay corked after a full ring published their batch early', () => {
    const { ch, reader } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.cork();
    expect(fill(e, 500)).toBe(7);
    expect(drain(r)).toHaveLength(7);
    expect(e.tryPublish(bytes('more'))).toBe(true);
    expect(drain(r)).toEqual([]);
    e.uncork();
    expect(drain(r)).toEqual(['7:more']);
    ch.close();
  });

  it('publish a batch with its hints at uncork, and are uncorked after', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.uncork();
    e.cork();
    e.tryPublish(bytes('a'));
    e.tryPublish(bytes('b'));
    expect(drain(r)).toEqual([]);
    expect(ch.stats()).toMatchObject({ messages: 0, tails: [0] });
    e.uncork();
    expect(ch.stats()).toMatchObject({ messages: 2, tails: [32] });
    expect(drain(r)).toEqual(['0:a', '1:b']);
    e.tryPublish(bytes('c'));
    expect(drain(r)).toEqual(['2:c']);
    // Filling the ring uncorked after a batch publishes each record at once, numbered right.
    expect(fill(e, 500)).toBe(7);
    expect(drain(r).map((m) => m.slice(0, m.indexOf(':')))).toEqual(['3', '4', '5', '6', '7', '8', '9']);
    expect(e.tryPublish(bytes('d'))).toBe(true);
    expect(drain(r)).toEqual(['10:d']);
    expect(Atomics.load(ring.ctl, RingWord.nextSeq)).toBe(11);
    ch.close();
  });

  it('keep the tail hint at a corked batch across a pad, so a writer taking over resumes where readers wait', () => {
    const { ch, reader, publisherSlots, kill } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    for (let i = 0; i < 3; i++) e.tryPublish(bytes(`${i}`.repeat(1000)));
    expect(drain(r)).toHaveLength(3);
    e.cork();
    // The batch: one record at 3024, a pad at 4032 and one record at 0, all hidden.
    e.tryPublish(bytes('x'.repeat(1000)));
    e.tryPublish(bytes('y'.repeat(1000)));
    expect(drain(r)).toEqual([]);
    expect(ch.stats().tails).toEqual([3024]);
    // The exclusive publisher dies before uncork: its batch is never published.
    kill(publisherSlots()[0]!);
    const next = ch.publisher();
    expect(next.tryPublish(bytes('after'))).toBe(true);
    expect(drain(r)).toEqual(['3:after']);
    ch.close();
  });

  it('clears the exclusive mark of a dead exclusive publisher when a shared one takes the lock over', () => {
    const { ch, ring, reader, publisherSlots, kill } = setup();
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.tryPublish(bytes('e'));
    kill(publisherSlots()[0]!);
    const next = ch.publisher();
    expect(next.tryPublish(bytes('n'))).toBe(true);
    expect(Atomics.load(ring.ctl, RingWord.exclusiveWriter)).toBe(0);
    expect(Atomics.load(ring.ctl, RingWord.writeLock)).toBe(0);
    expect(drain(r)).toEqual(['0:e', '1:n']);
    ch.close();
  });

  it('allow cork only on exclusive publishers, saying how to get one', () => {
    const { ch } = setup();
    expect(thrown(() => ch.publisher().cork())).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'cork() needs an exclusive publisher. Create the publisher with { exclusive: true }',
    });
    ch.close();
  });
});

describe('RingWriter, overwrite policy', () => {
  it('an exclusive publisher leaves the newest-record hint for lapped readers', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    for (let i = 0; i < 20; i++) e.tryPublish(bytes(`m${i}`.padEnd(504, '.')));
    expect(drain(r).map((m) => m.split('.')[0])).toEqual(['19:m19']);
    expect(r.lost).toBe(19);
    ch.close();
  });

  it('an aborted claim counts what it may have written over as lapped: the reader resumes after it and counts the loss', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite', maxMessage: 2040 });
    const r = reader();
    const pub = ch.publisher();
    pub.tryPublish(bytes('a'.repeat(1000)));
    pub.tryPublish(bytes('b'.repeat(1032)));
    // Its reach covers the bytes of 'a'; whether the claimant wrote them or not, nobody knows.
    pub.tryClaim(2040)!.abort();
    expect(drain(r).map((m) => m.slice(0, 3))).toEqual(['1:b']);
    expect(r.lost).toBe(1);
    // Caught up: another aborted claim must not make it read 'b' again.
    pub.tryClaim(8)!.abort();
    expect(r.hasData()).toBe(false);
    expect(drain(r)).toEqual([]);
    ch.close();
  });

  it('delivers no byte an aborted claim wrote over a record the reader had yet to read (a forged head there included)', () => {
    const { ch, ring, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const pub = ch.publisher();
    // r0 at position 0 (16 bytes), r1..r6 512 bytes each from 16, r7 from 3088 to 3592.
    expect(pub.tryPublish(bytes('r0'))).toBe(true);
    expect(pub.tryPublish(bytes('r1'.padEnd(504, '.')))).toBe(true);
    expect(drain(r).map((m) => m.slice(0, 4))).toEqual(['0:r0', '1:r1']);
    for (let i = 2; i <= 6; i++) expect(pub.tryPublish(bytes(`r${i}`.padEnd(504, '.')))).toBe(true);
    expect(pub.tryPublish(bytes('r7'.padEnd(496, '.')))).toBe(true);
    // The claim pads to the end and lands at ring offset 0, its bytes over r2's head at 528.
    const claim = pub.tryClaim(600)!;
    const at = claim.bytes.byteOffset - ring.bytes.byteOffset;
    expect(at).toBe(8);
    const forged = new DataView(claim.bytes.buffer, claim.bytes.byteOffset + (528 - at), 16);
    forged.setUint32(0, (VALID_FLAG | 5) >>> 0, true);
    forged.setUint32(4, 4242, true);
    claim.bytes.set(bytes('EVIL!'), 528 - at + 8);
    claim.abort();
    // A smaller record in its place must not pull the intent back over the claim's bytes.
    expect(pub.tryPublish(bytes('r8'))).toBe(true);
    const got = drain(r);
    expect(got.some((m) => m.includes('EVIL') || m.startsWith('4242:'))).toBe(false);
    for (const m of got) expect(m.split(':')[1]!.startsWith(`r${m.split(':')[0]}`), m.slice(0, 20)).toBe(true);
    expect(got.at(-1)).toBe('8:r8');
    ch.close();
  });

  it('an overwrite ring keeps a corked batch that fits hidden until uncork()', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.cork();
    for (const m of ['x', 'y', 'z']) expect(e.tryPublish(bytes(m))).toBe(true);
    expect(drain(r)).toEqual([]);
    e.uncork();
    expect(drain(r)).toEqual(['0:x', '1:y', '2:z']);
    ch.close();
  });

  it('a corked batch longer than the ring publishes what it has before it laps its own first record: every delivery intact', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.cork();
    expect(e.tryPublish(bytes('m0'.padEnd(100, '.')))).toBe(true);
    for (let i = 1; i <= 8; i++) expect(e.tryPublish(bytes(`m${i}`.padEnd(504, '.')))).toBe(true);
    e.uncork();
    const got = drain(r);
    expect(got.length).toBeGreaterThan(0);
    for (const m of got) {
      const [seq, body] = m.split(':') as [string, string];
      expect(body.startsWith(`m${seq}.`), m.slice(0, 20)).toBe(true);
      expect(body.length).toBe(seq === '0' ? 100 : 504);
    }
    expect(got.at(-1)!.startsWith('8:m8')).toBe(true);
    expect(r.lost + got.length).toBe(9);
    ch.close();
  });

  it('closing an exclusive publisher with an open claim drops the claim; what it may have covered counts as lost', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite', maxMessage: 2040 });
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.tryPublish(bytes('a'.repeat(1000)));
    e.tryPublish(bytes('b'.repeat(1032)));
    e.tryClaim(2040);
    e.close();
    expect(drain(r).map((m) => m.slice(0, 3))).toEqual(['1:b']);
    expect(r.lost).toBe(1);
    ch.close();
  });

  it('closing a corked exclusive publisher publishes its batch; a reader it lapped resumes at the newest record', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const e = ch.publisher({ exclusive: true });
    e.cork();
    // Twenty 512-byte records, all the same size: two and a half laps.
    for (let i = 0; i < 20; i++) expect(e.tryPublish(bytes(`m${i}`.padEnd(504, '.')))).toBe(true);
    e.close();
    expect(drain(r).map((m) => m.split('.')[0])).toEqual(['19:m19']);
    expect(r.lost).toBe(19);
    ch.close();
  });

  it('creating an exclusive publisher does not make caught-up readers read again', () => {
    const { ch, reader } = setup({ slowConsumer: 'overwrite' });
    const r = reader();
    const pub = ch.publisher();
    for (let i = 0; i < 3; i++) pub.tryPublish(bytes(`m${i}`));
    expect(drain(r)).toEqual(['0:m0', '1:m1', '2:m2']);
    pub.close();
    const e = ch.publisher({ exclusive: true });
    expect(r.hasData()).toBe(false);
    expect(drain(r)).toEqual([]);
    e.tryPublish(bytes('m3'));
    expect(drain(r)).toEqual(['3:m3']);
    ch.close();
  });
});

describe('RingWriter wake-ups', () => {
  it.each(['shared', 'exclusive', 'corked'] as const)('wakes a subscriber sleeping for data when a %s publisher publishes', async (kind) => {
    const { ch, ring } = setup();
    const sub = ch.subscriber();
    const pub = ch.publisher({ exclusive: kind !== 'shared' });
    if (kind === 'corked') pub.cork();
    let published = false;
    const t0 = performance.now();
    const woke = ring.data.waitAsync(() => published, 10_000);
    expect(pub.tryPublish(bytes('x'))).toBe(true);
    if (kind === 'corked') pub.uncork();
    published = true;
    expect(await woke).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(text(sub.receive())).toBe('x');
    ch.close();
  });
});

describe('RingWriter used directly', () => {
  it('refuses commit() without a reservation: before any, after a commit and after an abort', () => {
    const { ch, ring, reader } = setup();
    const r = reader();
    const w = new RingWriter(ring, ch.lockFor(0, 'write', ch.claimSlot('publisher', 0)));
    expect(w.maxMessage).toBe(1024);
    const noReservation = { code: ErrorCode.INVALID_ARGUMENT, message: 'commit() without a reservation. Call claim() first' };
    expect(thrown(() => w.commit(0))).toMatchObject(noReservation);
    const at = w.reserve(3);
    ring.bytes.set(bytes('abc'), at);
    expect(w.commit(3)).toBe(0);
    expect(thrown(() => w.commit(0))).toMatchObject(noReservation);
    w.reserve(3, false);
    w.abort();
    expect(thrown(() => w.commit(0))).toMatchObject(noReservation);
    expect(drain(r)).toEqual(['0:abc']);
    ch.close();
  });

  it('waits for the lock by default, and gives up on an exclusive publisher; without waiting it reports no room', () => {
    const { ch, ring } = setup();
    const w = new RingWriter(ring, ch.lockFor(0, 'write', ch.claimSlot('publisher', 0)));
    ch.publisher({ exclusive: true });
    expect(w.reserve(10, false)).toBe(-1);
    expect(w.tryWrite(bytes('x'))).toBe(false);
    expect(thrown(() => w.reserve(10)).code).toBe(ErrorCode.PUBLISHER_CONFLICT);
    ch.close();
  });
});

describe('checkRecords', () => {
  const records = (...texts: string[]) => {
    const r = recordsOf(...texts);
    // At an offset, as a frame's records follow its header.
    const frame = new Uint8Array(16 + r.length);
    frame.set(r, 16);
    return { frame, view: new DataView(frame.buffer) };
  };

  it('counts the records and finds the largest, unaligned too', () => {
    const { frame } = records('a', 'bb'.repeat(10), '');
    expect(checkRecords(frame, 16, frame.length, 64)).toMatchObject({ count: 3, largest: 32 });
    expect(checkRecords(frame, 16, 16, 64)).toMatchObject({ count: 0 });
    const odd = new Uint8Array(frame.length + 1);
    odd.set(frame, 1);
    expect(checkRecords(odd, 17, odd.length, 64)).toMatchObject({ count: 3, largest: 32 });
  });

  it('names a record cut short, over the largest message, running past the end, or not a plain record', () => {
    const { frame, view } = records('abc');
    expect(checkRecords(frame, 16, frame.length - 12, 64)).toMatch(/4 bytes of records, cut inside a record's header at byte 0/);
    expect(checkRecords(frame, 16, frame.length - 1, 64)).toMatch(/a 3-byte message at byte 0 of 15 bytes of records/);
    expect(checkRecords(frame, 16, frame.length, 2)).toMatch(/the channel's largest is 2/);
    for (const flags of [PAD_FLAG, VALID_FLAG | REMOTE_FLAG, 0]) {
      view.setUint32(16, (flags | 3) >>> 0, true);
      expect(checkRecords(frame, 16, frame.length, 64)).toMatch(/not a record's/);
    }
  });
});
