import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { RecordBatch } from './record-batch.js';
import { RingWord } from './layout.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';

const made: Array<{ namespace: string; name: string }> = [];
function ref(prefix: string) {
  const r = { namespace: 'shimmy-test', name: `${prefix}-${randomBytes(4).toString('hex')}` };
  made.push(r);
  return r;
}
afterEach(() => {
  for (const r of made.splice(0)) Channel.remove(r);
});

const enc = new TextEncoder();
const dec = new TextDecoder();
const messages = (n: number, from = 0) => Array.from({ length: n }, (_, i) => enc.encode(`m${from + i}-${'x'.repeat((from + i) % 37)}`));
const texts = (msgs: Uint8Array[]) => msgs.map((m) => dec.decode(m));

/** Everything `sub` has, one pollBatch at a time, as strings and sequence numbers. */
function drainBatches(sub: ReturnType<Channel['subscriber']>, batch = new RecordBatch(64)) {
  const got: string[] = [];
  const seqs: number[] = [];
  while (sub.pollBatch(batch) !== 0) {
    for (let i = 0; i < batch.count; i++) {
      got.push(dec.decode(batch.at(i)));
      seqs.push(batch.seqs[i]!);
    }
  }
  return { got, seqs };
}

function drainPoll(sub: ReturnType<Channel['subscriber']>) {
  const got: string[] = [];
  const seqs: number[] = [];
  sub.poll((b, o, l, seq) => {
    got.push(dec.decode(b.subarray(o, o + l)));
    seqs.push(seq);
  });
  return { got, seqs };
}

describe('tryPublishBatch', () => {
  for (const exclusive of [false, true]) {
    it(`writes each message as its own record, seen the same by poll and pollBatch (${exclusive ? 'exclusive' : 'shared'} publisher)`, () => {
      const ch = Channel.create(ref('batch'), { capacity: 65536, maxMessage: 1024 });
      const one = ch.subscriber();
      const many = ch.subscriber();
      const pub = ch.publisher({ exclusive });
      const msgs = messages(300);
      expect(pub.tryPublishBatch(msgs, 100)).toBe(100);
      expect(pub.tryPublishBatch(msgs.slice(100))).toBe(200);
      const a = drainPoll(one);
      const b = drainBatches(many);
      expect(a.got).toEqual(texts(msgs));
      expect(b).toEqual(a);
      expect(a.seqs).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(ch.stats().messages).toBe(300);
      ch.close();
    });

    it(`publishes the prefix that fits in a full ring and the rest once there is room (${exclusive ? 'exclusive' : 'shared'})`, () => {
      const ch = Channel.create(ref('full'), { capacity: 4096, maxMessage: 512 });
      const sub = ch.subscriber();
      const pub = ch.publisher({ exclusive });
      const msgs = Array.from({ length: 40 }, (_, i) => new Uint8Array(200).fill(i));
      const first = pub.tryPublishBatch(msgs);
      // 208 bytes a record in a 4 KiB ring: some, not all.
      expect(first).toBeGreaterThan(10);
      expect(first).toBeLessThan(20);
      const got: number[] = [];
      sub.poll((b, o) => got.push(b[o]!));
      expect(got).toEqual(Array.from({ length: first }, (_, i) => i));
      const rest = msgs.slice(first);
      let sent = 0;
      while (sent < rest.length) {
        const n = pub.tryPublishBatch(rest.slice(sent));
        expect(n).toBeGreaterThan(0);
        sent += n;
        sub.poll((b, o) => got.push(b[o]!));
      }
      expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
      ch.close();
    });
  }

  it('does not trust a floor it cached more than a ring ago, while other publishers wrote', () => {
    const ch = Channel.create(ref('stale-floor'), { capacity: 4096, maxMessage: 512 });
    const sub = ch.subscriber();
    const a = ch.publisher();
    const b = ch.publisher();
    const msg = (i: number) => new Uint8Array(100).fill(i & 0xff);
    const got: number[] = [];
    const read = () => sub.poll((bytes, o) => got.push(bytes[o]!));
    // a caches the floor at the subscriber's cursor, 0.
    expect(a.tryPublishBatch([msg(0)])).toBe(1);
    read();
    // b writes three rings' worth while the subscriber keeps up, then fills the ring.
    let sent = 1;
    for (let i = 0; i < 120; i++) {
      expect(b.tryPublish(msg(sent++))).toBe(true);
      read();
    }
    while (b.tryPublish(msg(sent))) sent++;
    // The ring is full of unread records: a must find no room, not overwrite them.
    expect(a.tryPublishBatch([msg(250), msg(251)])).toBe(0);
    read();
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => i & 0xff));
    ch.close();
  });

  it('writes batches across the end of the ring and the 32-bit position wrap', () => {
    const ch = Channel.create(ref('wrap'), { capacity: 4096, maxMessage: 512 });
    for (const f of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ch.rings[0]!.ctl, f, 0xfffff000);
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const all = messages(3000);
    const got: string[] = [];
    for (let i = 0; i < all.length;) {
      const n = pub.tryPublishBatch(all.slice(i, i + 13));
      expect(n).toBeGreaterThan(0);
      i += n;
      got.push(...drainBatches(sub).got);
    }
    expect(got).toEqual(texts(all));
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.tail)).toBeLessThan(0xfffff000);
    ch.close();
  });

  it('refuses a batch with a message over the maximum before writing any of it', () => {
    const ch = Channel.create(ref('large'), { capacity: 65536, maxMessage: 64 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const batch = [enc.encode('ok'), new Uint8Array(65), enc.encode('ok too')];
    expect(codeOf(() => pub.tryPublishBatch(batch))).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect(sub.receive()).toBeNull();
    // Not wedged: the lock was never taken.
    expect(pub.tryPublishBatch([enc.encode('after')])).toBe(1);
    expect(dec.decode(sub.receive()!)).toBe('after');
    ch.close();
  });

  it('checks the count against the array', () => {
    const ch = Channel.create(ref('count'), { capacity: 65536, maxMessage: 64 });
    const pub = ch.publisher();
    const msgs = messages(3);
    for (const bad of [-1, 4, 1.5, NaN]) expect(codeOf(() => pub.tryPublishBatch(msgs, bad))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(pub.tryPublishBatch(msgs, 0)).toBe(0);
    ch.close();
  });

  it("returns 0 at once while another publisher's claim holds the write lock", () => {
    const ch = Channel.create(ref('claimed'), { capacity: 65536, maxMessage: 64 });
    const sub = ch.subscriber();
    const holder = ch.publisher();
    const claim = holder.tryClaim(8)!;
    const pub = ch.publisher();
    expect(pub.tryPublishBatch(messages(5))).toBe(0);
    expect(holder.tryPublishBatch(messages(5))).toBe(0); // its own claim is open
    claim.bytes.set(enc.encode('claimed!'));
    claim.commit();
    expect(pub.tryPublishBatch(messages(2))).toBe(2);
    expect(drainPoll(sub).got).toEqual(['claimed!', ...texts(messages(2))]);
    ch.close();
  });

  it('keeps an exclusive publisher corked by the user corked: the batch shows at uncork()', () => {
    const ch = Channel.create(ref('corked'), { capacity: 65536, maxMessage: 64 });
    const sub = ch.subscriber();
    const pub = ch.publisher({ exclusive: true });
    pub.cork();
    expect(pub.tryPublishBatch(messages(10))).toBe(10);
    expect(sub.receive()).toBeNull();
    pub.uncork();
    expect(drainPoll(sub).got).toEqual(texts(messages(10)));
    ch.close();
  });

  it('publishBatchSync and publishBatch wait for room and deliver everything in order', async () => {
    const ch = Channel.create(ref('wait'), { capacity: 4096, maxMessage: 512 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const msgs = messages(500);
    const got: string[] = [];
    const reader = setInterval(() => got.push(...drainPoll(sub).got), 1);
    try {
      await pub.publishBatch(msgs);
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      clearInterval(reader);
    }
    got.push(...drainPoll(sub).got);
    expect(got).toEqual(texts(msgs));
    expect(() => pub.publishBatchSync(msgs, 500, { timeoutMs: 200 })).toThrowError(/Timed out/);
    ch.close();
  });
});

describe('pollBatch', () => {
  it('holds the ring space of the records it handed out until the next poll or release()', () => {
    const ch = Channel.create(ref('held'), { capacity: 4096, maxMessage: 512 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const msg = new Uint8Array(200).fill(7);
    let n = 0;
    while (pub.tryPublish(msg)) n++;
    const batch = new RecordBatch(1024);
    expect(sub.pollBatch(batch)).toBe(n);
    // The views are still in the ring: the publisher may not overwrite them.
    expect(pub.tryPublish(msg)).toBe(false);
    expect(batch.at(n - 1)).toEqual(msg);
    sub.release();
    expect(pub.tryPublish(msg)).toBe(true);
    expect(sub.pollBatch(batch)).toBe(1);
    expect(pub.tryPublish(msg)).toBe(true); // the previous batch was released by this pollBatch
    ch.close();
  });

  it('takes at most its capacity and the given max', () => {
    const ch = Channel.create(ref('cap'), { capacity: 65536, maxMessage: 64 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    pub.tryPublishBatch(messages(100));
    const batch = new RecordBatch(30);
    expect(sub.pollBatch(batch)).toBe(30);
    expect(sub.pollBatch(batch, 7)).toBe(7);
    expect(dec.decode(batch.at(0))).toBe(dec.decode(messages(1, 30)[0]!));
    expect(drainBatches(sub, batch).got).toEqual(texts(messages(63, 37)));
    expect(codeOf(() => batch.at(batch.count))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(codeOf(() => new RecordBatch(0))).toBe(ErrorCode.INVALID_ARGUMENT);
    ch.close();
  });

  it('under the overwrite policy copies records out, counts what it was lapped by, and stops when its copies fill the arena', () => {
    const ch = Channel.create(ref('overwrite'), { capacity: 262144, maxMessage: 16384, slowConsumer: 'overwrite' });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const big = Array.from({ length: 6 }, (_, i) => new Uint8Array(16000).fill(i + 1));
    expect(pub.tryPublishBatch(big)).toBe(6);
    const batch = new RecordBatch(64);
    // The arena holds max(maxMessage, 64 KiB) bytes: four 16 KB copies, then the next call.
    expect(sub.pollBatch(batch)).toBe(4);
    expect(batch.bytes.buffer).not.toBe(ch.rings[0]!.bytes.buffer);
    expect(Array.from({ length: 4 }, (_, i) => batch.at(i)[0])).toEqual([1, 2, 3, 4]);
    expect(sub.pollBatch(batch)).toBe(2);
    // Lapped: 20 more records than the ring holds.
    pub.tryPublishBatch(Array.from({ length: 20 }, () => new Uint8Array(16000)));
    let taken = 0;
    while (sub.pollBatch(batch) !== 0) taken += batch.count;
    expect(sub.lost + taken).toBe(20);
    expect(sub.lost).toBeGreaterThan(0);
    ch.close();
  });

  it('batches() yields refilled batches until the signal aborts', async () => {
    const ch = Channel.create(ref('iter'), { capacity: 65536, maxMessage: 64 });
    const sub = ch.subscriber({ idle: 'sleep' });
    const pub = ch.publisher();
    const abort = new AbortController();
    const got: string[] = [];
    const consumer = (async () => {
      for await (const b of sub.batches({ signal: abort.signal, capacity: 16 })) {
        for (let i = 0; i < b.count; i++) got.push(dec.decode(b.at(i)));
        if (got.length === 50) abort.abort();
      }
    })();
    pub.tryPublishBatch(messages(50));
    await consumer;
    expect(got).toEqual(texts(messages(50)));
    ch.close();
  });
});
