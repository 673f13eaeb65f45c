/**
 * The overwrite policy across processes: a publisher that never waits laps a subscriber in
 * another process over and over, across the 2^32 wrap of ring positions and of the sequence
 * counter. Every message is either delivered intact, in order, or counted as lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { RingWord } from '../../src/channel/layout.js';
import { cli, killStarted, run, testChannels } from '../helpers/proc.js';
import { until, within } from '../helpers/wait.js';

const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

describe('the overwrite policy across processes', () => {
  it('delivers intact, in order, or counts as lost every message of a publisher that laps the subscriber, across both 32-bit wraps', async () => {
    const ref = channels.ref('lapped');
    const total = 200_000;
    // Seven 512-byte records fit: the subscriber, checksumming every byte, is lapped constantly.
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 1024, slowConsumer: 'overwrite' });
    const ctl = ch.rings[0]!.ctl;
    // Positions wrap after 128 KiB of records (~250 messages), the sequence counter after 256.
    for (const word of [RingWord.tail, RingWord.tailIntent]) Atomics.store(ctl, word, 0xfffe0000);
    Atomics.store(ctl, RingWord.nextSeq, 0xffffff00);
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--verify', '--json', '--quiet']);
    await sub.waitFor(/subscribed/);
    const pub = await run(['pub', ref.name, '-n', ref.namespace, '--count', String(total), '--size', '512', '--seq']);
    expect(pub.code, pub.stderr).toBe(0);
    // Both counters went past 2^32 and round again.
    expect(Atomics.load(ctl, RingWord.tail)).toBeLessThan(0xfffe0000);
    expect(Atomics.load(ctl, RingWord.nextSeq)).toBe((0xffffff00 + total) >>> 0);
    // The subscriber has read or skipped everything before it is stopped.
    await until(() => ch.stats().lag === 0, 'the subscriber to catch up');
    sub.child.kill('SIGINT');
    expect(await within(sub.exited, 'the subscriber to stop')).toBe(0);
    const s = JSON.parse(sub.stdout().trim()) as { received: number; lost: number; gaps: number; corrupt: number; outOfOrder: number };
    expect(s).toMatchObject({ corrupt: 0, outOfOrder: 0 });
    expect(s.lost).toBeGreaterThan(0);
    expect(s.received).toBeGreaterThan(0);
    // Exactly: what the subscriber did not get, its reader counted as lost ...
    expect(s.received + s.lost).toBe(total);
    // ... and the sequence numbers agree, but for what was lost before the first delivery.
    expect(s.gaps).toBeLessThanOrEqual(s.lost);
    ch.close();
  });
});
