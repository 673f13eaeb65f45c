/**
 * Maps a channel's memory file, subscribes and checks `count` sequenced messages (word 0 the
 * index, word 1 the index times 7). argv: namespace name path count. Prints `ok <count>`, or
 * `error <code>` and exits 2 when the channel fails.
 */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name, path, countText] = process.argv.slice(2);
const count = Number(countText);
const ch = Channel.openFile({ namespace: namespace!, name: name! }, path!);
const sub = ch.subscriber();
console.log('subscribed');
try {
  for (let i = 0; i < count; i++) {
    const msg = await sub.next();
    const words = new Uint32Array(msg.buffer, msg.byteOffset, 2);
    if (msg.length !== 8 || words[0] !== i || words[1] !== (i * 7) >>> 0) {
      console.error(`message ${i}: got length ${msg.length}, words ${words[0]} ${words[1]}`);
      process.exit(1);
    }
  }
} catch (err) {
  console.log(`error ${(err as { code?: string }).code ?? String(err)}`);
  process.exit(2);
}
console.log(`ok ${count}`);
ch.close();
