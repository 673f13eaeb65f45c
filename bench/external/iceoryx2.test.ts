/**
 * The iceoryx2 peer end to end: short throughput and latency runs of the built Rust program,
 * checking that every message arrived and that the receiver's byte sum equals the sender's.
 * Skipped when the program is not built (bash bench/peers/setup.sh builds it).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ICEORYX2_BIN, iceoryx2, latencyRun, throughputRun } from './iceoryx2.js';
import { EXTERNAL_PEERS } from './index.js';

const built = existsSync(ICEORYX2_BIN);
const why = built ? '' : ` (skipped: ${ICEORYX2_BIN} is not built; run bash bench/peers/setup.sh)`;

describe(`iceoryx2 peer${why}`, () => {
  it('is registered and says how to build it when missing', () => {
    expect(EXTERNAL_PEERS.iceoryx2).toBe(iceoryx2);
    const check = iceoryx2.check();
    if (built) expect(check).toEqual({ ok: true });
    else expect(check).toMatchObject({ ok: false, reason: expect.stringContaining('bash bench/peers/setup.sh') });
  });

  it.skipIf(!built).each([
    [16, 200_000],
    [100 * 1024, 2_000],
  ])('delivers %i B x %i from one process to another, every byte intact', async (size, count) => {
    const { result, pub, sub } = await throughputRun(size, count, 5_000, 8_000);
    expect(pub.sent).toBe(count);
    expect(result.truncated).toBe(false);
    expect(result.delivered).toBe(count);
    expect(sub.warmupReceived).toBe(pub.warmupSent);
    expect(sub.bytes).toBe(count * size);
    expect(sub.checksum).toBe(pub.checksum);
    expect(BigInt(sub.checksum)).toBeGreaterThan(0n);
    expect(result.msgsPerSec).toBeGreaterThan(0);
    expect(result.mbPerSec).toBeGreaterThan(0);
    console.log(`iceoryx2 ${size} B x ${count}: ${Math.round(result.msgsPerSec).toLocaleString('en-US')} msg/s, ${result.mbPerSec.toFixed(1)} MB/s`);
  });

  it.skipIf(!built)('measures one-way latency by ping-pong, echoing every byte', async () => {
    const { result, ping, pong } = await latencyRun(64, 200, 6_000, 6_000);
    expect(result.oneWayUs).toHaveLength(200);
    expect(ping.samples).toBe(200);
    expect(result.oneWayUs.every((us) => us > 0 && Number.isFinite(us))).toBe(true);
    expect(pong.checksum).toBe(ping.sentChecksum);
    expect(ping.recvChecksum).toBe(ping.sentChecksum);
    // 200 samples after 20 warm-up round trips, all echoed.
    expect(pong.echoed).toBe(220);
    const sorted = [...result.oneWayUs].sort((a, b) => a - b);
    console.log(`iceoryx2 64 B latency: p50 ${sorted[100]!.toFixed(2)} us, p99 ${sorted[197]!.toFixed(2)} us (one way)`);
  });

  it.skipIf(!built)("fails a run with the program's error when one side fails", async () => {
    await expect(iceoryx2.throughput(0, 10, 1_000)).rejects.toThrow(/iceoryx2 (pub|sub) exited with 1:\n.*size of at least 1/);
  });
});
