/**
 * Lands one frame as a node agent's lander, notes state in its durable slot and waits to be
 * killed: an agent that dies while it owns a lander. argv: namespace name durableId
 */
import { Channel } from '../../src/channel/channel.js';
import { recordsOf } from './records.js';

const [namespace, name, id] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const lander = ch.lander(Number(id));
const records = recordsOf('landed before the crash');
lander.tryLand(records, 0, records.length, (pos, seq) => {
  lander.state.set(0, pos);
  lander.state.set(1, seq);
});
console.log('landed');
setInterval(() => {}, 1000);
