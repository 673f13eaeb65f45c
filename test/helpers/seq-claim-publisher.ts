/**
 * Publishes `--seq` frames of `size` bytes without end, filling each in place in the ring
 * (claim, fill, commit): the write lock is held, and the record half-written, for most of its
 * time, so a SIGKILL at a random moment most likely lands mid-write. argv: namespace name size
 */
import { Channel } from '../../src/channel/channel.js';
import { fillSeqMessage, newPublisherId } from '../../src/cli/seq-message.js';

const [namespace, name, size] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const pub = ch.publisher();
const id = newPublisherId();
const length = Number(size);
console.log('publishing');
for (let seq = 0; ; seq++) {
  const claim = pub.tryClaim(length) ?? (await pub.claim(length));
  fillSeqMessage(claim.bytes, id, seq);
  claim.commit();
}
