import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { testChannels } from '../../test/helpers/proc.js';
import { recordsOf } from '../../test/helpers/records.js';
import { RecordBatch } from './record-batch.js';
import { RingWord } from './layout.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Messages as a replication frame holds them after its header, at an offset as in a received frame. */
function frame(...texts: string[]) {
  const records = recordsOf(...texts);
  const bytes = new Uint8Array(16 + records.length);
  bytes.set(records, 16);
  return { bytes, from: 16, to: bytes.length };
}

function drain(sub: ReturnType<Channel['subscriber']>) {
  const got: Array<[string, boolean]> = [];
  sub.poll((b, o, l, _seq, remote) => got.push([dec.decode(b.subarray(o, o + l)), remote === true]));
  return got;
}

describe('Lander', () => {
  it('lands a frame as records marked remote, between a local publisher’s, and tells beforePublish where before readers see it', () => {
    const ch = Channel.create(channels.ref('land'), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const peek = ch.subscriber();
    const pub = ch.publisher();
    const lander = ch.lander(7);
    expect(lander.adopted).toBe(false);
    pub.tryPublish(enc.encode('local-1'));
    expect(drain(sub)).toEqual([['local-1', false]]);
    expect(drain(peek)).toEqual([['local-1', false]]);
    const f = frame('r1', 'r2', 'r3');
    let seen: { pos: number; seq: number; visible: boolean } | null = null;
    expect(
      lander.tryLand(f.bytes, f.from, f.to, (pos, seq) => {
        seen = { pos, seq, visible: lander.landedAt(pos, seq) || peek.poll(() => {}) > 0 };
      }),
    ).toBe(3);
    pub.tryPublish(enc.encode('local-2'));
    expect(drain(sub)).toEqual([
      ['r1', true],
      ['r2', true],
      ['r3', true],
      ['local-2', false],
    ]);
    expect(seen).toMatchObject({ seq: 1, visible: false });
    expect(lander.landedAt(seen!.pos, 1)).toBe(true);
    expect(lander.landedAt(seen!.pos, 2)).toBe(false);
    expect(lander.landedAt(0, 0)).toBe(false); // local-1
  });

  it('lands all of a frame or none: a full ring takes nothing until there is room for the whole frame', () => {
    const ch = Channel.create(channels.ref('land-full'), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const pub = ch.publisher();
    const filler = new Uint8Array(1);
    while (pub.tryPublish(filler));
    const lander = ch.lander(1);
    const f = frame('a', 'b', 'c', 'd');
    let calls = 0;
    expect(lander.tryLand(f.bytes, f.from, f.to, () => calls++)).toBe(-1);
    expect(calls).toBe(0);
    // Room for one record only: still nothing.
    sub.poll(() => {}, 1);
    expect(lander.tryLand(f.bytes, f.from, f.to, () => calls++)).toBe(-1);
    sub.poll(() => {}, 4);
    expect(lander.tryLand(f.bytes, f.from, f.to, () => calls++)).toBe(4);
    expect(calls).toBe(1);
    const got = drain(sub).filter(([, remote]) => remote);
    expect(got.map(([t]) => t)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('lands across the end of the ring, behind a filler', () => {
    const ch = Channel.create(channels.ref('land-wrap'), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const lander = ch.lander(1);
    const texts = Array.from({ length: 12 }, (_, i) => `${i}`.padEnd(100, '.'));
    const landed: string[] = [];
    for (let round = 0; round < 5; round++) {
      expect(lander.tryLand(...(Object.values(frame(...texts)) as [Uint8Array, number, number]), () => {})).toBe(12);
      landed.push(...drain(sub).map(([t]) => t));
    }
    expect(landed).toEqual(Array.from({ length: 5 }, () => texts).flat());
  });

  it('lands a frame whose first records fill the ring exactly to its end: the rest go at its start with no filler, and the tail moves by the frame', () => {
    const ch = Channel.create(channels.ref('land-exact'), { mode: 'stream', capacity: 4096, maxMessage: 256 });
    const b = ch.streamEnd('b');
    const lander = ch.lander(1, false, 0);
    const ring = ch.rings[0]!;
    // Records of 32 bytes: 128 fill the ring, and each third frame of 48 ends a lap after 16 of them.
    const texts = Array.from({ length: 48 }, (_, i) => `job-${i}`.padEnd(20, '.'));
    const got: string[] = [];
    for (let round = 0; round < 9; round++) {
      const tail = Atomics.load(ring.ctl, RingWord.tail);
      expect(lander.tryLand(...(Object.values(frame(...texts)) as [Uint8Array, number, number]), () => {})).toBe(48);
      expect(Atomics.load(ring.ctl, RingWord.tail) - tail, `round ${round}`).toBe(48 * 32);
      b.take(100, (m) => got.push(m.toString()));
    }
    expect(got).toEqual(Array.from({ length: 9 }, () => texts).flat());
  });

  it("lands a frame none of whose records fit before the end: the filler is the batch's first head, held back with the rest", () => {
    const ch = Channel.create(channels.ref('land-wrap-first'), { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    const peek = ch.subscriber();
    const pub = ch.publisher();
    // 15 records of 264 bytes and one of 120: the tail stops 16 bytes before the end.
    for (let i = 0; i < 15; i++) expect(pub.tryPublish(new Uint8Array(256))).toBe(true);
    expect(pub.tryPublish(new Uint8Array(112))).toBe(true);
    expect(sub.poll(() => {})).toBe(16);
    expect(peek.poll(() => {})).toBe(16);
    const lander = ch.lander(1);
    const f = frame('first'.padEnd(100, '.'), 'second');
    let seen: { pos: number; seq: number; visible: boolean } | null = null;
    expect(
      lander.tryLand(f.bytes, f.from, f.to, (pos, seq) => {
        seen = { pos, seq, visible: peek.poll(() => {}) > 0 };
      }),
    ).toBe(2);
    expect(seen).toEqual({ pos: 4096, seq: 16, visible: false });
    expect(lander.landedAt(4096, 16)).toBe(true);
    expect(drain(sub)).toEqual([
      ['first'.padEnd(100, '.'), true],
      ['second', true],
    ]);
  });

  it("lets the agent's own subscriber step over each landed batch, across the end of the ring too, and counts its records as passed", () => {
    const ch = Channel.create(channels.ref('land-skip'), { capacity: 4096, maxMessage: 256 });
    const agent = ch.subscriber();
    const other = ch.subscriber();
    const pub = ch.publisher();
    const lander = ch.lander(1);
    const texts = Array.from({ length: 12 }, (_, i) => `${i}`.padEnd(100, '.'));
    for (let round = 0; round < 5; round++) {
      expect(pub.tryPublish(enc.encode(`local-${round}a`))).toBe(true);
      const f = frame(...texts);
      expect(lander.tryLand(f.bytes, f.from, f.to, (pos, _seq, end, count) => agent.skipLanded(pos, end, count))).toBe(12);
      expect(pub.tryPublish(enc.encode(`local-${round}b`))).toBe(true);
      const seen: Array<[string, boolean]> = [];
      expect(agent.poll((b, o, l, _s, remote) => seen.push([dec.decode(b.subarray(o, o + l)), remote === true]))).toBe(14);
      expect(seen).toEqual([
        [`local-${round}a`, false],
        [`local-${round}b`, false],
      ]);
      expect(drain(other)).toHaveLength(14);
    }
    // A batch it was told of but read past (a pollBatch() reads what it finds) is forgotten, not stepped over later.
    const f = frame(...texts);
    expect(lander.tryLand(f.bytes, f.from, f.to, (pos, _seq, end, count) => agent.skipLanded(pos, end, count))).toBe(12);
    const batch = new RecordBatch(64);
    expect(agent.pollBatch(batch)).toBe(12);
    agent.release();
    // The next batch it is told of is stepped over again.
    expect(lander.tryLand(f.bytes, f.from, f.to, (pos, _seq, end, count) => agent.skipLanded(pos, end, count))).toBe(12);
    expect(pub.tryPublish(enc.encode('after'))).toBe(true);
    expect(drain(agent)).toEqual([['after', false]]);
  });

  it('refuses a frame the ring could never hold at once', () => {
    const ch = Channel.create(channels.ref('land-big'), { capacity: 4096, maxMessage: 256 });
    const f = frame(...Array.from({ length: 20 }, () => 'x'.repeat(250)));
    expect(codeOf(() => ch.lander(1).tryLand(f.bytes, f.from, f.to, () => {}))).toBe(ErrorCode.INVALID_ARGUMENT);
    // Malformed records (checkRecords) are refused the same way, with what is wrong.
    const g = frame('abc', 'def');
    expect(() => ch.lander(2).tryLand(g.bytes, g.from, g.to - 1, () => {})).toThrow(/malformed records: a 3-byte message at byte 16 of 31 bytes/);
    expect(() => ch.lander(2).tryLand(recordsOf('x'.repeat(300)), 0, 312, () => {})).toThrow(/the channel's largest is 256/);
  });

  it('keeps its slot and state words for the next owner when it leaves; close gives them up', () => {
    const ref = channels.ref('land-durable');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 256 });
    const a = ch.lander(42);
    for (let i = 0; i < a.state.count; i++) a.state.set(i, 1000 + i);
    a.leave();
    const other = Channel.open(ref);
    expect(other.stats().publishers).toBe(1);
    const b = other.lander(42);
    expect(b.adopted).toBe(true);
    expect(Array.from({ length: b.state.count }, (_, i) => b.state.get(i))).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
    // Another peer's lander is a slot of its own.
    const c = other.lander(43);
    expect(c.adopted).toBe(false);
    expect(c.state.get(0)).toBe(0);
    b.close();
    const d = other.lander(42);
    expect(d.adopted).toBe(false);
    expect(d.state.get(0)).toBe(0);
  });

  it('closing the channel leaves a left lander’s slot in place', () => {
    const ref = channels.ref('land-close');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 256 });
    const a = ch.lander(5);
    a.state.set(0, 9);
    a.leave();
    ch.close();
    const again = Channel.open(ref).lander(5);
    expect(again.adopted).toBe(true);
    expect(again.state.get(0)).toBe(9);
  });
});
