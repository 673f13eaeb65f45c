import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { RingWord } from '../../src/channel/layout.js';
import { helper, killStarted, testChannels } from '../helpers/proc.js';

const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

describe('the count of sleepers a write wakes, with real processes', () => {
  it('goes back to 0 when a process calls process.exit() while it waits', async () => {
    const ref = channels.ref('exit-waiting');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const sleeper = helper('exit-while-waiting', [ref.namespace, ref.name]);
    await sleeper.waitFor(/waiting/);
    expect(await sleeper.exited).toBe(0);
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.dataWaiters)).toBe(0);
    ch.close();
  });
});
