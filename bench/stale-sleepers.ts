/**
 * What a sleeper count left behind costs (src/channel/notifier.ts): 1M 16-byte publishes, with
 * a subscriber draining in the same process, timed with the ring's count of sleepers at 0 and
 * set to a stale 1, three rounds each in one run. Every write then pays a futex wake for
 * nobody. Run as: node dist/bench/stale-sleepers.js
 */
import { Channel } from '../src/channel/channel.js';
import { RingWord } from '../src/channel/layout.js';

const ref = { namespace: 'bench', name: `stale-sleepers-${process.pid}` };
const ch = Channel.create(ref, { capacity: 1 << 20, maxMessage: 64 });
const pub = ch.publisher();
const sub = ch.subscriber();
const ctl = ch.rings[0]!.ctl;
const msg = new Uint8Array(16);
const COUNT = 1_000_000;

function publishAll(sleepers: number): number {
  Atomics.store(ctl, RingWord.dataWaiters, sleepers);
  const start = performance.now();
  for (let i = 0; i < COUNT; i++) {
    while (!pub.tryPublish(msg)) sub.poll(() => {}, 4096);
    if ((i & 1023) === 0) sub.poll(() => {}, 4096);
  }
  sub.poll(() => {}, COUNT);
  return performance.now() - start;
}

try {
  for (let round = 1; round <= 3; round++) {
    const fresh = publishAll(0);
    const stale = publishAll(1);
    console.log(
      `round ${round}: ${COUNT} publishes in ${fresh.toFixed(0)} ms with no sleeper counted, ${stale.toFixed(0)} ms with a stale count of 1 (${(stale / fresh).toFixed(1)}x)`,
    );
  }
} finally {
  Atomics.store(ctl, RingWord.dataWaiters, 0);
  sub.close();
  pub.close();
  ch.close();
  Channel.remove(ref);
}
