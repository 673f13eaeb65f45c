import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Channel } from './channel.js';
import { RingWord, initHeader, segmentBytes, DEFAULTS } from './layout.js';
import { channelKey } from './names.js';
import { OWN_PID_NAMESPACE } from './liveness.js';
import { SlotWord } from './participants.js';
import { Segment } from '../shm/segment.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { openChannel } from '../client/open.js';

const made: Array<{ namespace: string; name: string }> = [];
function ref(prefix = 'unit') {
  const r = { namespace: 'shimmy-test', name: `${prefix}-${randomBytes(4).toString('hex')}` };
  made.push(r);
  return r;
}
afterEach(() => {
  for (const r of made.splice(0)) Channel.remove(r);
});

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

describe('Channel pub/sub', () => {
  it('delivers every message to every subscriber, in order', () => {
    const ch = Channel.create(ref(), { capacity: 65536, maxMessage: 1024 });
    const s1 = ch.subscriber();
    const s2 = ch.subscriber();
    const pub = ch.publisher();
    for (let i = 0; i < 1000; i++) expect(pub.tryPublish(bytes(`m${i}`))).toBe(true);
    for (const s of [s1, s2]) {
      const got: string[] = [];
      s.poll((b, o, l) => got.push(new TextDecoder().decode(b.subarray(o, o + l))));
      expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
    }
    ch.close();
  });

  it('keeps working across the 32-bit position wrap-around', () => {
    const r = ref('wrap');
    const ch = Channel.create(r, { capacity: 4096, maxMessage: 512 });
    // Start just below 2^32 so positions wrap after a few records.
    for (const f of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ch.rings[0]!.ctl, f, 0xffffff00);
    const sub = ch.subscriber();
    const pub = ch.publisher();
    let received = 0;
    for (let i = 0; i < 5000; i++) {
      const msg = bytes(`wrap-${i}-${'x'.repeat(i % 300)}`);
      if (!pub.tryPublish(msg)) throw new Error('full');
      sub.poll((b, o, l) => {
        expect(new TextDecoder().decode(b.subarray(o, o + l))).toBe(`wrap-${received}-${'x'.repeat(received % 300)}`);
        received++;
      });
    }
    expect(received).toBe(5000);
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.tail)).toBeLessThan(0xffffff00);
    ch.close();
  });

  it('keeps a stream ring working across the 32-bit wrap of positions, for both sides, the shared cursor included', () => {
    const ch = Channel.create(ref('wrap-stream'), { mode: 'stream', capacity: 4096, maxMessage: 512 });
    for (const r of ch.rings) for (const f of [RingWord.tail, RingWord.tailIntent, RingWord.sharedCursor]) Atomics.store(r.ctl, f, 0xffffff00);
    const a = ch.streamEnd('a');
    const b = ch.streamEnd('b');
    const got: Record<'a' | 'b', string[]> = { a: [], b: [] };
    for (let i = 0; i < 3000; i++) {
      expect(a.tryPublish(bytes(`req-${i}-${'x'.repeat(i % 200)}`))).toBe(true);
      expect(b.take(16, (m) => got.b.push(m.toString()))).toBe(1);
      expect(b.tryPublish(bytes(`rep-${i}`))).toBe(true);
      expect(a.take(16, (m) => got.a.push(m.toString()))).toBe(1);
    }
    expect(got.b).toEqual(Array.from({ length: 3000 }, (_, i) => `req-${i}-${'x'.repeat(i % 200)}`));
    expect(got.a).toEqual(Array.from({ length: 3000 }, (_, i) => `rep-${i}`));
    for (const r of ch.rings) expect(Atomics.load(r.ctl, RingWord.sharedCursor)).toBeLessThan(0xffffff00);
    ch.close();
  });

  it('starts a new subscriber after records whose writer died before moving the tail hint', () => {
    const ch = Channel.create(ref(), { capacity: 65536, maxMessage: 1024 });
    const pub = ch.publisher();
    pub.tryPublish(bytes('before-1'));
    const hint = Atomics.load(ch.rings[0]!.ctl, RingWord.tail);
    pub.tryPublish(bytes('before-2'));
    // As if the writer of 'before-2' died after publishing its head, before moving tail.
    Atomics.store(ch.rings[0]!.ctl, RingWord.tail, hint);
    pub.close();
    const sub = ch.subscriber();
    expect(sub.receive()).toBeNull();
    // The next writer to take over repairs the hint and goes on after 'before-2'.
    const next = ch.publisher({ exclusive: true });
    next.tryPublish(bytes('after'));
    expect(text(sub.receive())).toBe('after');
    expect(sub.receive()).toBeNull();
    ch.close();
  });

  it('with the block policy refuses to pass the slowest subscriber', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    let n = 0;
    while (pub.tryPublish(new Uint8Array(100))) n++;
    // 112-byte records in a 4 KiB ring: 36 fit, and the writer never passes the reader.
    expect(n).toBe(36);
    expect(pub.tryPublish(new Uint8Array(100))).toBe(false);
    let read = 0;
    while (sub.receive()) read++;
    expect(read).toBe(36);
    for (let i = 0; i < 30; i++) expect(pub.tryPublish(new Uint8Array(100))).toBe(true);
    ch.close();
  });

  it('with the overwrite policy never blocks and reports what a lapped subscriber lost', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 256, slowConsumer: 'overwrite' });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    for (let i = 0; i < 1000; i++) expect(pub.tryPublish(bytes(String(i).padStart(100, '0')))).toBe(true);
    const got: number[] = [];
    sub.poll((b, o, l) => got.push(Number(new TextDecoder().decode(b.subarray(o, o + l)))));
    // Lapped many times over: it resumes at the newest message and counts the rest as lost.
    expect(got.length).toBeGreaterThan(0);
    expect(got.at(-1)).toBe(999);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(sub.lost).toBe(1000 - got.length);
    expect(ch.stats().lost).toBe(sub.lost);
    ch.close();
  });

  it('with the overwrite policy discards a record the writer overwrote while it was being copied', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 1024, slowConsumer: 'overwrite' });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const message = (i: number) => bytes(`msg-${i}-`.padEnd(400, '.'));
    expect(pub.tryPublish(message(0))).toBe(true);
    // The writer laps the subscriber between its check of the head and the end of its copy.
    const ring = ch.rings[0]!;
    const subarray = ring.bytes.subarray.bind(ring.bytes);
    let published = 1;
    ring.bytes.subarray = (start?: number, end?: number) => {
      const view = subarray(start, end);
      if (published === 1) while (published < 20) expect(pub.tryPublish(message(published++))).toBe(true);
      return view;
    };
    const got: [number, string][] = [];
    while (sub.poll((b, o, l, seq) => got.push([seq, new TextDecoder().decode(b.subarray(o, o + l)).split('-')[1]!])) > 0);
    expect(published).toBe(20);
    // Nothing delivered under a number that is not its own, and message 0 was lost, not garbled.
    expect(got.length).toBeGreaterThan(0);
    for (const [seq, body] of got) expect(body).toBe(String(seq));
    expect(got[0]![0]).toBeGreaterThan(0);
    expect(sub.lost).toBe(20 - got.length);
    ch.close();
  });

  it('stops its endpoints with CLOSED, saying why, once its segment is removed under it', async () => {
    const r = ref();
    const ch = Channel.create(r, { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    expect(pub.tryPublish(bytes('before'))).toBe(true);
    expect(text(sub.receive())).toBe('before');
    const waiting = sub.next({ timeoutMs: 10_000 });
    const started = performance.now();
    expect(Channel.remove(r)).toBe(true);
    // The same name now gets a new segment, which this one's traffic would never reach.
    const again = Channel.create(r, { capacity: 4096, maxMessage: 256 });
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.CLOSED, message: expect.stringMatching(new RegExp(`${r.name} .* was removed at`)) });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(codeOf(() => pub.tryPublish(bytes('after')))).toBe(ErrorCode.CLOSED);
    expect(codeOf(() => sub.receive())).toBe(ErrorCode.CLOSED);
    expect(ch.isClosed).toBe(true);
    expect(again.isClosed).toBe(false);
    ch.close();
    again.close();
  });

  it('lets a publisher fill a claim in place and a subscriber read it without copying', () => {
    const ch = Channel.create(ref(), { capacity: 65536, maxMessage: 4096 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const claim = pub.tryClaim(4096)!;
    claim.bytes.set(bytes('in-place'));
    claim.commit(8);
    let view: Uint8Array | null = null;
    sub.poll((b, o, l) => {
      view = b.subarray(o, o + l);
    });
    expect(text(view)).toBe('in-place');
    expect(view!.buffer).toBe(ch.rings[0]!.bytes.buffer);
    ch.close();
  });

  it("grants one publisher's async claims in call order, with sync writes waiting their turn", async () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 1024 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const first = pub.tryClaim(1000)!;
    expect(pub.tryPublish(bytes('sync'))).toBe(false);
    expect(codeOf(() => pub.publishSync(bytes('blocking')))).toBe(ErrorCode.INVALID_ARGUMENT);
    const later = [1, 2, 3, 4, 5].map((i) =>
      pub.claim(1000).then((c) => {
        c.bytes.set(bytes(`claim-${i}`));
        c.commit(7);
      }),
    );
    const published = pub.publish(bytes('async'));
    first.bytes.set(bytes('claim-0'));
    first.commit(7);
    const got: string[] = [];
    // The ring holds three 1000-byte claims: drain while the rest wait for room.
    while (got.length < 7) {
      const m = sub.receive();
      if (m) got.push(text(m)!);
      else await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all([...later, published]);
    expect(got).toEqual(['claim-0', 'claim-1', 'claim-2', 'claim-3', 'claim-4', 'claim-5', 'async']);
    expect(pub.tryPublish(bytes('sync'))).toBe(true);
    ch.close();
  });

  it('publishes a corked batch at once, at uncork', () => {
    const ch = Channel.create(ref(), { capacity: 65536, maxMessage: 1024 });
    const sub = ch.subscriber();
    const pub = ch.publisher({ exclusive: true });
    pub.cork();
    for (const m of ['a', 'b', 'c']) expect(pub.tryPublish(bytes(m))).toBe(true);
    expect(sub.receive()).toBeNull();
    pub.uncork();
    expect([sub.receive(), sub.receive(), sub.receive(), sub.receive()].map(text)).toEqual(['a', 'b', 'c', null]);
    expect(codeOf(() => Channel.open(ch.ref).publisher())).toBe(ErrorCode.PUBLISHER_CONFLICT);
    ch.close();
  });

  it('publishes a corked batch early when the ring fills, so readers can make room', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const pub = ch.publisher({ exclusive: true });
    pub.cork();
    let n = 0;
    while (pub.tryPublish(new Uint8Array(100))) n++;
    let read = 0;
    while (sub.receive()) read++;
    expect(read).toBe(n);
    expect(codeOf(() => ch.publisher().cork())).toBe(ErrorCode.PUBLISHER_CONFLICT);
    ch.close();
  });

  it('allows cork only on exclusive publishers', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 256 });
    expect(codeOf(() => ch.publisher().cork())).toBe(ErrorCode.INVALID_ARGUMENT);
    ch.close();
  });

  it('refuses a message larger than the channel allows', () => {
    const ch = Channel.create(ref(), { capacity: 4096, maxMessage: 100 });
    const pub = ch.publisher();
    expect(codeOf(() => pub.tryPublish(new Uint8Array(101)))).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    ch.close();
  });

  it('delivers through the async iterator and stops on abort', async () => {
    const r = ref();
    Channel.create(r).close();
    const ac = new AbortController();
    const ch = openChannel({ ...r, signal: ac.signal });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    setTimeout(() => pub.tryPublish(bytes('late')), 20);
    const got: string[] = [];
    for await (const m of sub.messages({ signal: ac.signal })) {
      got.push(text(m)!);
      ac.abort();
    }
    expect(got).toEqual(['late']);
    expect(codeOf(() => sub.receive())).toBe(ErrorCode.CLOSED);
  });
});

describe('Channel participant slots', () => {
  it('refuses a participant with NO_FREE_SLOT when every slot is taken by a live one, and takes it once one closes', () => {
    const ch = Channel.create(ref('full'), { capacity: 4096, maxMessage: 256, maxParticipants: 4 });
    const taken = [ch.subscriber(), ch.subscriber(), ch.publisher(), ch.subscriber()];
    expect(ch.table.snapshot().map((s) => s.index)).toEqual([0, 1, 2, 3]);
    expect(codeOf(() => ch.subscriber())).toBe(ErrorCode.NO_FREE_SLOT);
    expect(codeOf(() => ch.publisher())).toBe(ErrorCode.NO_FREE_SLOT);
    expect(() => ch.subscriber()).toThrowError(/All 4 participant slots of this channel are taken by live processes/);
    // Nothing was half-claimed by the refusals.
    expect(ch.stats()).toMatchObject({ publishers: 1, subscribers: 3 });
    taken[1]!.close();
    ch.subscriber();
    expect(ch.table.snapshot().map((s) => s.index)).toEqual([0, 1, 2, 3]);
    ch.close();
  });
});

describe('Channel heartbeat timeout', () => {
  it("judges a participant in another PID namespace by its heartbeat age, against this process's timeout", () => {
    const r = ref('beat');
    const ch = Channel.create(r, { capacity: 4096, maxMessage: 256, heartbeatTimeoutMs: 2000 });
    const other = Channel.open(r);
    expect(other.table.heartbeatTimeoutMs).toBe(5000);
    ch.subscriber();
    const slot = ch.table.snapshot()[0]!.index;
    // As if the subscriber lived in another PID namespace and last beat 3 s ago.
    ch.table.setWord(slot, SlotWord.pidNs, (OWN_PID_NAMESPACE + 1) >>> 0);
    ch.table.setWord(slot, SlotWord.heartbeat, ch.table.now() - 3000);
    expect(ch.table.isDead(slot)).toBe(true);
    expect(other.table.isDead(slot)).toBe(false);
    ch.table.setWord(slot, SlotWord.heartbeat, ch.table.now() - 1000);
    expect(ch.table.isDead(slot)).toBe(false);
    expect(codeOf(() => Channel.open(r, { heartbeatTimeoutMs: 250 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    other.close();
    ch.close();
  });
});

describe('Channel stream', () => {
  it('gives each message to exactly one consumer of a side, both ways, and to both consumers', async () => {
    const r = ref('stream');
    Channel.create(r, { mode: 'stream', capacity: 65536, maxMessage: 1024 }).close();
    const ch = openChannel(r);
    const a = ch.stream('a');
    const b1 = ch.stream('b');
    const b2 = ch.stream('b');
    const took: [string[], string[]] = [[], []];
    // Each consumer works a little on every message (pauses, as a worker awaiting I/O), so
    // neither can take the whole stream at once.
    const collect = (d: ReturnType<typeof ch.stream>, mine: string[]) =>
      d.on('data', (m: Buffer) => {
        mine.push(m.toString());
        d.pause();
        setTimeout(() => d.resume(), 1);
      });
    collect(b1, took[0]);
    collect(b2, took[1]);
    for (let i = 0; i < 200; i++) a.write(`req-${i}`);
    await vi.waitFor(() => expect(took[0].length + took[1].length).toBeGreaterThanOrEqual(200), { timeout: 20_000, interval: 10 });
    expect([...took[0], ...took[1]].sort()).toEqual(Array.from({ length: 200 }, (_, i) => `req-${i}`).sort());
    expect(took[0].length).toBeGreaterThan(0);
    expect(took[1].length).toBeGreaterThan(0);
    const replies: string[] = [];
    a.on('data', (m: Buffer) => replies.push(m.toString()));
    b1.write('reply');
    await vi.waitFor(() => expect(replies).toEqual(['reply']), { timeout: 20_000, interval: 10 });
    ch.close();
  });

  it('refuses pub/sub endpoints on a stream channel', () => {
    const ch = Channel.create(ref(), { mode: 'stream' });
    expect(codeOf(() => ch.publisher())).toBe(ErrorCode.WRONG_MODE);
    ch.close();
  });
});

describe('Channel.open', () => {
  it('says the channel does not exist and how to create it', () => {
    expect(() => Channel.open(ref())).toThrowError(/shimmy channel create/);
  });

  it('detects a key held by another channel identity', () => {
    const mine = ref('collide');
    const seg = Segment.create({ key: channelKey(mine), label: 'x' }, segmentBytes({ ...DEFAULTS, capacity: 4096, maxMessage: 1024 }));
    initHeader(seg.buffer, { ...DEFAULTS, capacity: 4096, maxMessage: 1024 }, 'someone/else', 1);
    seg.detach();
    expect(codeOf(() => Channel.open(mine))).toBe(ErrorCode.KEY_COLLISION);
  });

  it('refuses a corrupt header', () => {
    const r = ref();
    const ch = Channel.create(r, { capacity: 4096, maxMessage: 1024 });
    new Uint32Array(ch.rings[0]!.ctl.buffer, 0, 1)[0] = 0x12345678;
    ch.close();
    expect(codeOf(() => Channel.open(r))).toBe(ErrorCode.CORRUPT_HEADER);
  });

  it('lists the channels on this host', () => {
    const r = ref('listed');
    Channel.create(r, { capacity: 4096, maxMessage: 1024 }).close();
    expect(Channel.list()).toContainEqual(r);
  });
});
