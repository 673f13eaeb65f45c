/**
 * Claims space on a channel, writes half a message and waits to be killed: a publisher that
 * dies mid-write while holding the write lock. argv: namespace name bytes
 */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name, size] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const pub = ch.publisher();
const claim = pub.tryClaim(Number(size))!;
claim.bytes.fill(0xee, 0, Math.floor(claim.bytes.length / 2));
console.log('claimed');
setInterval(() => {}, 1000);
