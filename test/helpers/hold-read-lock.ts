/**
 * Becomes a stream consumer and takes the read lock without releasing it: a consumer that
 * dies while taking a message. argv: namespace name side
 */
import { Channel } from '../../src/channel/channel.js';
import { RingWord } from '../../src/channel/layout.js';

const [namespace, name, side] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
ch.streamEnd(side as 'a' | 'b');
const inbound = side === 'a' ? 1 : 0;
const slot = ch.table.snapshot().find((s) => s.pid === process.pid)!.index;
ch.lockFor(inbound, 'read', slot).acquire();
console.log(`locked ${Atomics.load(ch.rings[inbound]!.ctl, RingWord.readLock)}`);
setInterval(() => {}, 1000);
