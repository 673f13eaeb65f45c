/** Subscribes, goes to sleep waiting for a message, and calls process.exit() meanwhile. argv: namespace name */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
void ch.subscriber({ idle: 'sleep' }).wait();
console.log('waiting');
setTimeout(() => process.exit(0), 100);
