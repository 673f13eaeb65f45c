import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { RingWord } from './layout.js';
import { testChannels } from '../../test/helpers/proc.js';
import { recordsOf } from '../../test/helpers/records.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const msg = new Uint8Array(100);

/** Publishes until the publisher says no; how many went. */
function publishWhileItCan(pub: ReturnType<Channel['publisher']>, most = 10_000): number {
  let n = 0;
  while (n < most && pub.tryPublish(msg)) n++;
  return n;
}

describe("a subscriber holding the ring's publishers back (the node agent's, while its peers lag)", () => {
  it('stops publishers within a ring of writing, though the ring has room, and lets them go again', () => {
    const ch = Channel.create(channels.ref('gate'), { capacity: 8192, maxMessage: 256 });
    const agent = ch.subscriber();
    const reader = ch.subscriber();
    const pub = ch.publisher();
    expect(pub.tryPublish(msg)).toBe(true);
    agent.holdPublishers(true);
    // A writer looks at the gate when it looks at the floor again: within a ring's worth of records.
    expect(publishWhileItCan(pub)).toBeLessThan(8192 / 108);
    // Readers making room does not open the gate.
    agent.poll(() => {});
    reader.poll(() => {});
    expect(pub.tryPublish(msg)).toBe(false);
    // A lander (the agent's own writes) is not held back.
    const records = recordsOf(msg);
    expect(ch.lander(1).tryLand(records, 0, records.length, () => {})).toBe(1);
    agent.holdPublishers(false);
    expect(pub.tryPublish(msg)).toBe(true);
  });

  it('wakes a publisher blocked on it when it lets go, and lets go when it closes', async () => {
    const ch = Channel.create(channels.ref('gate-wake'), { capacity: 8192, maxMessage: 256 });
    const agent = ch.subscriber();
    const pub = ch.publisher();
    agent.holdPublishers(true);
    publishWhileItCan(pub);
    let done = false;
    const blocked = pub.publish(msg, { timeoutMs: 5000 }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    agent.close();
    await blocked;
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.gate)).toBe(0);
  });

  it('holds nobody back once its holder is gone', () => {
    const ch = Channel.create(channels.ref('gate-dead'), { capacity: 8192, maxMessage: 256 });
    const agent = ch.subscriber();
    const pub = ch.publisher();
    agent.holdPublishers(true);
    const gate = Atomics.load(ch.rings[0]!.ctl, RingWord.gate);
    publishWhileItCan(pub);
    agent.close();
    // As a holder killed before it could let go leaves it.
    Atomics.store(ch.rings[0]!.ctl, RingWord.gate, gate);
    expect(pub.tryPublish(msg)).toBe(true);
  });
});
