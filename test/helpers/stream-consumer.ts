/**
 * One consumer of a stream side: takes messages until `expect` were taken by all consumers
 * together (the shared counter), then prints the ones it took as JSON. It pauses 1 ms after
 * each message, as a worker does some work, so one consumer cannot take a whole burst while
 * the other is still waking up. argv: namespace name side expect
 */
import { openChannel } from '../../src/client/open.js';
import { RingWord } from '../../src/channel/layout.js';

const [namespace, name, side, expect] = process.argv.slice(2);
const ch = openChannel({ namespace: namespace!, name: name! });
const end = ch.stream(side as 'a' | 'b');
const inbound = ch.channel.rings[side === 'a' ? 1 : 0]!;
const mine: string[] = [];
console.log('consuming');
end.on('data', (m: Buffer) => {
  mine.push(m.toString());
  end.pause();
  setTimeout(() => end.resume(), 1);
});
// A consumer still here after 5 s says where it stands (the test shows it if it times out).
const started = Date.now();
let reported = 0;
const timer = setInterval(() => {
  if (Date.now() - started > 5000 * (reported + 1)) {
    reported++;
    const state = { taken: Atomics.load(inbound.ctl, RingWord.taken), mine: mine.length, buffered: end.readableLength, paused: end.isPaused() };
    console.error(`still consuming: ${JSON.stringify(state)}`);
  }
  // Everything was taken, and what this consumer took is handed over (take() pushes what it
  // took before returning, so nothing taken here is still on its way).
  if (Atomics.load(inbound.ctl, RingWord.taken) >= Number(expect) && end.readableLength === 0 && !end.isPaused()) {
    clearInterval(timer);
    setTimeout(() => {
      console.log(JSON.stringify(mine));
      console.error('closing');
      ch.close();
      process.exit(0);
    }, 100);
  }
}, 20);
