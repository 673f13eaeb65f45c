/**
 * Lands one frame as a node agent's lander, notes state in its durable slot and waits to be
 * killed: an agent that dies while it owns a lander. argv: namespace name durableId
 */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name, id] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const lander = ch.lander(Number(id));
const msg = new TextEncoder().encode('landed before the crash');
lander.tryLand(msg, [0], [msg.length], 1, (pos, seq) => {
  lander.state.set(0, pos);
  lander.state.set(1, seq);
});
console.log('landed');
setInterval(() => {}, 1000);
