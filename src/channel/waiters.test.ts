import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { RingWord } from './layout.js';
import { testChannels } from '../../test/helpers/proc.js';
import { until } from '../../test/helpers/wait.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

describe('the count of sleepers a write wakes', () => {
  it('goes back to 0 when a channel closes while a wait is pending, so writes stop paying a futex wake for nobody', async () => {
    const ref = channels.ref('waiters');
    const watcher = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const sleepers = () => Atomics.load(watcher.rings[0]!.ctl, RingWord.dataWaiters);
    const ch = Channel.open(ref);
    const pending = ch
      .subscriber({ idle: 'sleep' })
      .wait()
      .catch(() => {});
    await until(() => sleepers() === 1, 'the subscriber asleep');
    ch.close();
    expect(sleepers()).toBe(0);
    await pending;
    // The woken wait returns after the detach and takes nothing back twice.
    expect(sleepers()).toBe(0);
    watcher.close();
  });
});
