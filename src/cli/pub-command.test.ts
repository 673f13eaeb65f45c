import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Channel } from '../channel/channel.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { batchSize, waitForSubscribers } from './pub-command.js';

const made: Array<{ namespace: string; name: string }> = [];
const open: Channel[] = [];
function channel(): Channel {
  const ref = { namespace: 'shimmy-test', name: `waitsubs-${randomBytes(4).toString('hex')}` };
  made.push(ref);
  const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024 });
  open.push(ch);
  return ch;
}
afterEach(() => {
  for (const ch of open.splice(0)) ch.close();
  for (const r of made.splice(0)) Channel.remove(r);
});

describe('waitForSubscribers', () => {
  it('returns at once, without announcing a wait, when enough subscribers are attached', async () => {
    const ch = channel();
    ch.subscriber();
    const onWait = vi.fn();
    await expect(waitForSubscribers(ch, 1, 0, { onWait })).resolves.toBe(true);
    expect(onWait).not.toHaveBeenCalled();
  });

  it('waits for the number asked for, announcing the wait once, and counts only subscribers', async () => {
    const ch = channel();
    ch.publisher();
    const stats = vi.spyOn(ch, 'stats');
    const onWait = vi.fn();
    let done = false;
    const waiting = waitForSubscribers(ch, 2, 10_000, { onWait, pollMs: 5 }).then((r) => {
      done = true;
      return r;
    });
    expect(onWait).toHaveBeenCalledWith(0);
    ch.subscriber();
    // Let it look at the channel a few more times with one subscriber attached.
    const seen = stats.mock.calls.length;
    await vi.waitFor(() => expect(stats.mock.calls.length).toBeGreaterThan(seen + 3));
    expect(done).toBe(false);
    ch.subscriber();
    await expect(waiting).resolves.toBe(true);
    expect(onWait).toHaveBeenCalledTimes(1);
  });

  it('gives up after the timeout with a coded error that says how many were attached, polling asleep', async () => {
    const ch = channel();
    ch.subscriber();
    const stats = vi.spyOn(ch, 'stats');
    const started = performance.now();
    const err = await waitForSubscribers(ch, 3, 300).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(ShimmyError);
    expect((err as ShimmyError).code).toBe(ErrorCode.TIMEOUT);
    expect((err as ShimmyError).message).toMatch(
      /Timed out after 300ms waiting for 3 subscribers on channel shimmy-test\/waitsubs-[0-9a-f]+: 1 attached\. .*--timeout/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(5000);
    // 20-50 ms between looks, not a busy loop: about 12 looks in 300 ms.
    expect(stats.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(stats.mock.calls.length).toBeLessThan(40);
  });

  it('stops early, reporting false, when stopped() turns true', async () => {
    const ch = channel();
    let stop = false;
    const waiting = waitForSubscribers(ch, 1, 10_000, { stopped: () => stop, onWait: () => (stop = true) });
    await expect(waiting).resolves.toBe(false);
  });
});

describe('batchSize', () => {
  it('takes up to 256 KiB or 1024 messages a batch, at least one', () => {
    expect(batchSize(16)).toBe(1024);
    expect(batchSize(1024)).toBe(256);
    expect(batchSize(100 * 1024)).toBe(2);
    expect(batchSize(1 << 20)).toBe(1);
  });

  it('keeps a paced batch to 10 ms of messages at the rate', () => {
    expect(batchSize(16, 1_000_000)).toBe(1024);
    expect(batchSize(16, 10_000)).toBe(100);
    expect(batchSize(16, 50)).toBe(1);
    expect(batchSize(1024, 100_000)).toBe(256);
  });
});
