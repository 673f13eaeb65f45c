import { readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../channel/channel.js';
import { RingWord } from '../channel/layout.js';
import { testChannels } from '../../test/helpers/proc.js';
import { until } from '../../test/helpers/wait.js';
import { FutexWatcher } from './futex-watcher.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

/** Whether the watcher's eventfd has a signal (read, so taken). */
function signalled(w: FutexWatcher): boolean {
  try {
    return readSync(w.fd, Buffer.alloc(8)) === 8;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
    throw err;
  }
}

describe('FutexWatcher', () => {
  it("signals its fd once a watched ring is written (its writer wakes the word for the watcher's sleeper), and not before", async () => {
    const ch = Channel.create(channels.ref('watch'), { capacity: 4096, maxMessage: 64 });
    const pub = ch.publisher();
    const data = ch.rings[0]!.data;
    const w = new FutexWatcher();
    try {
      w.arm([data.sleepBegin()]);
      await new Promise((r) => setTimeout(r, 20));
      expect(signalled(w)).toBe(false);
      expect(pub.tryPublish(Uint8Array.of(1))).toBe(true);
      await until(() => signalled(w), 'the signal');
      w.disarm();
      data.sleepEnd();
      expect(w.failure()).toBeNull();
    } finally {
      w.close();
      ch.close();
    }
  });

  it('signals at once for a word that already changed, and nothing once disarmed', async () => {
    const ch = Channel.create(channels.ref('watch-2'), { capacity: 4096, maxMessage: 64 });
    const pub = ch.publisher();
    const data = ch.rings[0]!.data;
    const w = new FutexWatcher();
    try {
      const seen = data.sleepBegin();
      expect(pub.tryPublish(Uint8Array.of(1))).toBe(true);
      w.arm([seen]);
      await until(() => signalled(w), 'the signal');
      // Armed again from the new value, then disarmed: the next write signals nothing.
      w.arm([{ ...seen, value: Atomics.load(ch.rings[0]!.ctl, RingWord.dataNotify) }]);
      w.disarm();
      expect(pub.tryPublish(Uint8Array.of(2))).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      expect(signalled(w)).toBe(false);
      data.sleepEnd();
    } finally {
      w.close();
      ch.close();
    }
  });
});
