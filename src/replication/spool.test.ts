import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShimmyError, ErrorCode } from '../errors.js';
import { HEADER_BYTES, writeHeader } from './frames.js';
import { Spool, type SpoolSettings } from './spool.js';

let dir: string;
let path: string;
const settings: SpoolSettings = { bytes: 4096, maxFrame: 600, identity: 0x5eed };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spool-'));
  path = join(dir, 'ns_ch.spool');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Adds frame `seq` of `spool`'s epoch with `body` bytes of `seq & 0xff`. */
function addFrame(spool: Spool, seq: bigint, body = 100, messages = 1): void {
  const data = spool.add(HEADER_BYTES + body, messages);
  writeHeader(new DataView(data.buffer, data.byteOffset), seq, spool.epoch);
  data.fill(Number(seq & 0xffn), HEADER_BYTES);
}

const ring = (cursor: number) => ({ cursor, expectedSeq: cursor / 8 });

describe('the replication spool', () => {
  it('gives the next agent the committed frames, epoch, place in the ring and next sequence number, and nothing added after the last commit', () => {
    const { spool, recovered } = Spool.open(path, settings);
    expect(recovered).toBeNull();
    addFrame(spool, 0n, 100, 3);
    addFrame(spool, 1n, 50);
    spool.commit(ring(800), 2n);
    // Added, never committed: its messages were never released from the ring, so the next agent reads them again.
    addFrame(spool, 2n);
    spool.close();

    const again = Spool.open(path, settings);
    expect(again.discarded).toBeUndefined();
    expect(again.spool.epoch).toBe(spool.epoch);
    expect(again.recovered).toMatchObject({ epoch: spool.epoch, ring: ring(800), nextSeq: 2n });
    const frames = again.recovered!.frames;
    expect(frames.map((f) => [f.seq, f.messages, f.data.length])).toEqual([
      [0n, 3, HEADER_BYTES + 100],
      [1n, 1, HEADER_BYTES + 50],
    ]);
    expect(frames[1]!.data[HEADER_BYTES]).toBe(1);
    again.spool.close();
  });

  it('lets go of what every peer has and reuses the space, round the end of the file many times, keeping the frames intact', () => {
    const { spool } = Spool.open(path, settings);
    let next = 0n;
    let released = 0n;
    for (let round = 0; round < 200; round++) {
      // Frames of varying sizes, committed in passes; the oldest let go a pass later.
      const body = 40 + ((round * 37) % 500);
      addFrame(spool, next++, body);
      addFrame(spool, next++, 7);
      spool.commit(ring(round * 8), next);
      spool.release(released);
      released = next - 2n;
    }
    spool.close();
    const { spool: again, recovered } = Spool.open(path, settings);
    expect(recovered!.frames.map((f) => f.seq)).toEqual([next - 4n, next - 3n, next - 2n, next - 1n]);
    for (const f of recovered!.frames) expect(f.data.subarray(HEADER_BYTES).every((b) => b === Number(f.seq & 0xffn))).toBe(true);
    again.remove();
  });

  it('refuses a frame it has no room for, with a clear error, and counts its free bytes down to it', () => {
    const { spool } = Spool.open(path, settings);
    const before = spool.free();
    addFrame(spool, 0n, 500);
    expect(spool.free()).toBe(before - 8 - 520);
    let seq = 1n;
    let err: unknown;
    try {
      for (; seq < 100n; seq++) addFrame(spool, seq, 500);
    } catch (e) {
      err = e;
    }
    expect(isShimmyError(err, ErrorCode.SYSTEM_LIMIT), String(err)).toBe(true);
    expect(seq).toBe(7n); // 4096 bytes hold 7 entries of 528
    spool.commit(ring(0), seq);
    spool.release(3n);
    addFrame(spool, seq, 500);
    spool.close();
  });

  it('keeps the last whole commit when an agent dies while writing the next one: a commit writes the other record, then switches to it', () => {
    const { spool } = Spool.open(path, settings);
    const commitWord = () => new Uint32Array(new Uint8Array(readFileSync(path)).buffer)[6];
    addFrame(spool, 0n);
    const before = commitWord();
    spool.commit(ring(16), 1n);
    expect(commitWord()).toBe(1 - before!);
    spool.close();
    // A commit record half written (the other record, as commit() writes it), the switch never made.
    const raw = new Uint32Array(new Uint8Array(readFileSync(path)).buffer);
    const current = raw[6]!;
    raw.fill(0xdead, 8 + 8 * (1 - current), 8 + 8 * (1 - current) + 3);
    writeFileSync(path, raw);
    const again = Spool.open(path, settings);
    expect(again.recovered).toMatchObject({ ring: ring(16), nextSeq: 1n });
    expect(again.recovered!.frames).toHaveLength(1);
    again.spool.close();
  });

  it.each([
    ['another channel', (s: SpoolSettings) => ({ ...s, identity: 1 }), /another channel/],
    ['other settings', (s: SpoolSettings) => ({ ...s, bytes: 8192 }), /other channel settings/],
  ])('does not take a spool of %s: it makes a new one, with a new epoch, and says why', (_what, change, why) => {
    const first = Spool.open(path, settings).spool;
    addFrame(first, 0n);
    first.commit(ring(8), 1n);
    first.close();
    const { spool, recovered, discarded } = Spool.open(path, change(settings));
    expect(recovered).toBeNull();
    expect(discarded).toMatch(why);
    expect(spool.epoch).not.toBe(first.epoch);
    spool.close();
  });

  it.each([
    ['a head outside the spool', (w: Uint32Array, cur: number) => (w[8 + 8 * cur] = 1 << 20), /outside it/],
    ['an entry longer than any frame', (w: Uint32Array) => (w[128 / 4] = 100_000), /malformed entry/],
    ['an entry of no messages', (w: Uint32Array) => (w[128 / 4 + 1] = 0), /malformed entry/],
    ['a frame of another epoch', (w: Uint32Array) => (w[128 / 4 + 2 + 2] = 7), /epoch 7/],
    ['frames out of sequence', (w: Uint32Array) => (w[(128 + 8 + 120) / 4 + 2] = 9), /frame 9 follows frame 0/],
    ['a commit word that names no record', (w: Uint32Array) => (w[6] = 5), /commit word is 5/],
  ])('does not send from a spool with %s: it makes a new one and says why, within bounded time', (_what, spoil, why) => {
    const { spool } = Spool.open(path, settings);
    addFrame(spool, 0n, 100);
    addFrame(spool, 1n, 100);
    spool.commit(ring(16), 2n);
    spool.close();
    const raw = new Uint32Array(new Uint8Array(readFileSync(path)).buffer);
    spoil(raw, raw[6]!);
    writeFileSync(path, raw);
    const { spool: again, recovered, discarded } = Spool.open(path, settings);
    expect(recovered).toBeNull();
    expect(discarded).toMatch(why);
    again.close();
  });

  it('takes back only its last committed frame, named by its sequence number, also when that frame is the first past the end of the file', () => {
    const { spool } = Spool.open(path, settings);
    expect(spool.withdraw(0)).toBe(false);
    let next = 0n;
    // Six 608-byte entries fill the 4,096-byte file, so the seventh goes at its start; two are kept.
    for (let i = 0; i < 7; i++) {
      addFrame(spool, next, 584);
      spool.commit(ring(0), ++next);
      spool.release(next - 2n);
    }
    expect(spool.withdraw(Number(next - 2n))).toBe(false);
    expect(spool.withdraw(Number(next - 1n))).toBe(true);
    expect(spool.withdraw(Number(next - 1n))).toBe(false);
    spool.close();
    const again = Spool.open(path, settings);
    expect(again.recovered!.frames.map((f) => f.seq)).toEqual([next - 2n]);
    expect(again.recovered!.nextSeq).toBe(next - 1n);
    // The space is free for the frame that takes its number.
    addFrame(again.spool, next - 1n, 584);
    again.spool.commit(ring(0), next);
    again.spool.close();
    expect(Spool.open(path, settings).recovered!.frames.map((f) => f.seq)).toEqual([next - 2n, next - 1n]);
  });

  it('removes its file when the channel is let go', () => {
    const { spool } = Spool.open(path, settings);
    spool.remove();
    expect(Spool.open(path, settings)).toMatchObject({ recovered: null });
  });
});
