/**
 * The Aeron peer: short real runs over aeron:ipc when its program is built (bench/peers/setup.sh),
 * and the checks that fail a run whose receiver did not get exactly what was sent.
 */
import { describe, expect, it } from 'vitest';
import { aeron, aeronLatency, aeronThroughput, latencyResult, throughputResult, type PingDone, type PongDone, type PubDone, type SubDone } from './aeron.js';
import { EXTERNAL_PEERS } from './index.js';

const built = aeron.check().ok;
const SKIP = 'Aeron program not built: run `bash bench/peers/setup.sh` (or bench/peers/aeron/setup.sh)';
if (!built) console.warn(`aeron.test.ts: ${SKIP}; skipping the runs`);

const pub = (over: Partial<PubDone> = {}): PubDone => ({
  event: 'done',
  sent: 10,
  startNs: '1000000000',
  endNs: '1500000000',
  backPressured: 0,
  checksum: 'abc',
  ...over,
});
const sub = (over: Partial<SubDone> = {}): SubDone => ({ event: 'done', received: 10, bytes: 160, lastNs: '2000000000', checksum: 'abc', ...over });

describe('aeron peer', () => {
  it('is registered as an external peer', () => {
    expect(EXTERNAL_PEERS.aeron).toBe(aeron);
    expect(aeron.idle).toMatch(/BusySpinIdleStrategy/);
    expect(aeron.description).toMatch(/ThreadingMode\.SHARED/);
  });

  it('times a run from the publisher start to the last message received', () => {
    const r = throughputResult(20, pub(), sub());
    expect(r.msgsPerSec).toBe(10);
    expect(r.mbPerSec).toBeCloseTo(160e-6);
    expect(r.delivered).toBe(10);
    expect(r.truncated).toBe(true);
  });

  it('fails a throughput run whose checksums differ or that lost messages', () => {
    expect(() => throughputResult(10, pub(), sub({ checksum: 'abd' }))).toThrow(/checksum mismatch/);
    expect(() => throughputResult(10, pub(), sub({ received: 9 }))).toThrow(/received 9 of 10/);
  });

  it('fails a latency run whose echoes differ', () => {
    const ping: PingDone = { event: 'done', sent: 3, replies: 3, sentChecksum: 'f', replyChecksum: 'f', oneWayUs: [1, 2] };
    const pong: PongDone = { event: 'done', received: 3, checksum: 'f' };
    expect(latencyResult(ping, pong).oneWayUs).toEqual([1, 2]);
    expect(() => latencyResult({ ...ping, replyChecksum: 'e' }, pong)).toThrow(/checksum mismatch/);
    expect(() => latencyResult(ping, { ...pong, checksum: 'e' })).toThrow(/checksum mismatch/);
    expect(() => latencyResult(ping, { ...pong, received: 2 })).toThrow(/pong received 2/);
  });

  it.skipIf(!built)('moves 16 B x 200,000 and 100 KiB x 2,000 between two JVMs, every byte checked', { timeout: 40_000 }, async () => {
    for (const [size, count] of [
      [16, 200_000],
      [100 * 1024, 2_000],
    ] as const) {
      const r = await aeronThroughput(size, count, 10_000);
      console.log(
        `aeron ${size} B x ${count}: ${Math.round(r.msgsPerSec).toLocaleString('en-US')} msg/s, ${r.mbPerSec.toFixed(1)} MB/s, ` +
          `back-pressured ${r.backPressured}, checksum ${r.receivedChecksum}`,
      );
      expect(r.delivered).toBe(count);
      expect(r.sent).toBe(count);
      expect(r.truncated).toBe(false);
      expect(r.msgsPerSec).toBeGreaterThan(0);
      expect(r.mbPerSec).toBeGreaterThan(0);
      expect(r.receivedChecksum).toBe(r.sentChecksum);
    }
  });

  it.skipIf(!built)('measures ping-pong latency, every echo checked', { timeout: 30_000 }, async () => {
    const r = await aeronLatency(64, 200, 5_000);
    const sorted = [...r.oneWayUs].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`aeron 64 B latency: ${r.oneWayUs.length} samples, one-way p50 ${p50.toFixed(2)} us, max ${sorted.at(-1)!.toFixed(2)} us`);
    expect(r.oneWayUs).toHaveLength(200);
    expect(r.oneWayUs.every((us) => us > 0 && Number.isFinite(us))).toBe(true);
    expect(r.pongChecksum).toBe(r.sentChecksum);
    expect(r.replyChecksum).toBe(r.sentChecksum);
  });

  it.skipIf(!built)('goes through the ExternalPeer interface', { timeout: 30_000 }, async () => {
    const t = await aeron.throughput(1024, 20_000, 5_000);
    expect(t.delivered).toBe(20_000);
    const l = await aeron.latency(100 * 1024, 100, 5_000);
    expect(l.oneWayUs).toHaveLength(100);
  });
});
