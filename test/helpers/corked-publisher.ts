/** An exclusive publisher that corks, writes a batch, and waits to be killed. argv: namespace name */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const pub = ch.publisher({ exclusive: true });
pub.cork();
for (let i = 0; i < 10; i++) pub.tryPublish(new TextEncoder().encode(`corked-${i}`));
console.log('corked');
setInterval(() => {}, 1000);
