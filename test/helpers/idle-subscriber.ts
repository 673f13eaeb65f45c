/** Subscribes and never reads: a subscriber that holds publishers back. argv: namespace name */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
ch.subscriber();
console.log('subscribed');
setInterval(() => {}, 1000);
