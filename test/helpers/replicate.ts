/**
 * One side of a channel replicated one way between two hosts (src/replication/one-way.ts):
 *   replicate forward FILE NS NAME MAX_MESSAGE PEER_IP PORT COUNT   subscribes, then sends
 *   replicate land FILE NS NAME MAX_MESSAGE IP COUNT                prints "listening PORT",
 *                                                                   then publishes what arrives
 * FILE is the channel's memory file on this host. Prints a JSON summary.
 */
import { Channel } from '../../src/channel/channel.js';
import { forward, land } from '../../src/replication/one-way.js';
import { UcxWorker } from '../../src/replication/ucx.js';

const [mode, file, namespace, name, maxMessage, ...rest] = process.argv.slice(2);
const channel = Channel.openFile({ namespace: namespace!, name: name! }, file!);
const worker = UcxWorker.open();
const options = { maxMessage: Number(maxMessage), tag: 1n };
if (mode === 'forward') {
  const [ip, port, count] = rest;
  const sub = channel.subscriber();
  console.error('subscribed');
  const peer = worker.connect(ip!, Number(port), 30_000);
  console.log(JSON.stringify({ forwarded: await forward(sub, worker, peer, { ...options, count: Number(count) }) }));
} else if (mode === 'land') {
  const [ip, count] = rest;
  console.log(`listening ${worker.listen(ip!)}`);
  worker.accept(30_000);
  const pub = channel.publisher();
  console.log(JSON.stringify(await land(pub, worker, { ...options, count: Number(count) })));
} else {
  console.error('usage: replicate forward FILE NS NAME MAX_MESSAGE PEER_IP PORT COUNT | replicate land FILE NS NAME MAX_MESSAGE IP COUNT');
  process.exit(2);
}
worker.close();
channel.close();
