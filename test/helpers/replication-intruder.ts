/**
 * Processes that reach a node replicator's port without the cluster's replication key:
 *   replication-intruder IP PORT NAMESPACE NAME AS_NODE COUNT
 * connects twice, once with a key of its own and once with none, and sends, as node AS_NODE,
 * COUNT data frames of the channel and COUNT acknowledgements on each, plus COUNT frames longer
 * than any message with its own key; then prints "sent N" (N: all it sent) and waits for SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { channelKey } from '../../src/channel/names.js';
import { HEADER_BYTES, newEpoch, writeHeader } from '../../src/replication/frames.js';
import { channelTag } from '../../src/replication/tags.js';
import { UcxWorker } from '../../src/replication/ucx.js';

const [ip, port, namespace, name, asNode, count] = process.argv.slice(2);
const key = channelKey({ namespace: namespace!, name: name! });
const dataTag = channelTag(key, 'data', asNode!);
const ackTag = channelTag(key, 'ack', asNode!);
const n = Number(count);
const epoch = newEpoch();
const workers = [UcxWorker.open({ key: randomBytes(32) }), UcxWorker.open()];
let sent = 0;
for (const worker of workers) {
  const peer = worker.connect(ip!, Number(port), 5000);
  const send = (tag: bigint, data: Uint8Array) => {
    worker.send(peer, tag, data, 5000);
    sent++;
  };
  for (let i = 0; i < n; i++) {
    const frame = new Uint8Array(HEADER_BYTES + 24).fill(0xee);
    writeHeader(new DataView(frame.buffer), BigInt(i), epoch);
    send(dataTag, frame);
    const ack = new Uint8Array(16);
    writeHeader(new DataView(ack.buffer), BigInt(1 << 30), epoch);
    send(ackTag, ack);
    if (worker.overhead) send(dataTag, new Uint8Array(1 << 20).fill(0xee));
  }
  worker.flush(5000);
}
console.log(`sent ${sent}`);
process.on('SIGTERM', () => {
  for (const worker of workers) worker.close();
  process.exit(0);
});
setInterval(() => {}, 1000);
