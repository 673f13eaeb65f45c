/**
 * Publishes `batches` whole batches of `size`-byte `--seq` frames with tryPublishBatch, then
 * freezes in the middle of writing the next one (its message `freezeAt` is being read) and
 * waits there to be killed. argv: namespace name exclusive|shared batch size batches freezeAt
 */
import { writeSync } from 'node:fs';
import { Channel } from '../../src/channel/channel.js';
import { fillSeqMessage, newPublisherId } from '../../src/cli/seq-message.js';

const [namespace, name, kind, batchArg, sizeArg, batchesArg, freezeArg] = process.argv.slice(2);
const [batch, size, batches, freezeAt] = [batchArg, sizeArg, batchesArg, freezeArg].map(Number) as [number, number, number, number];
const ch = Channel.open({ namespace: namespace!, name: name! });
const pub = ch.publisher({ exclusive: kind === 'exclusive' });
const id = newPublisherId();
const msgs = Array.from({ length: batch }, () => new Uint8Array(size));
let seq = 0;
const fill = () => {
  for (const m of msgs) fillSeqMessage(m, id, seq++);
};
for (let b = 0; b < batches; b++) {
  fill();
  if (pub.tryPublishBatch(msgs) !== batch) throw new Error('the ring had no room for a whole batch');
}
fill();
// The batch path reads each message twice: its length up front, then to copy it. The second
// read of message `freezeAt` comes after the messages before it were written into the ring.
let reads = 0;
const freezing = new Proxy(msgs, {
  get(target, key, receiver) {
    if (key === String(freezeAt) && ++reads === 2) {
      writeSync(1, `frozen after ${batches * batch} messages\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600_000);
    }
    return Reflect.get(target, key, receiver);
  },
});
pub.tryPublishBatch(freezing);
throw new Error('not killed while frozen');
