/**
 * One side of a channel replicated one way between two hosts (src/replication/one-way.ts):
 *   replicate forward FILE NS NAME MAX_MESSAGE PEER_IP PORT COUNT   subscribes, then sends
 *   replicate land FILE NS NAME MAX_MESSAGE IP COUNT                prints "listening PORT",
 *                                                                   then publishes what arrives
 *   replicate both FILE NS NAME MAX_MESSAGE (listen IP | connect IP PORT) OUT IN
 *                                                                   both directions on one link
 * FILE is the channel's memory file on this host. Prints a JSON summary.
 */
import { Channel } from '../../src/channel/channel.js';
import { replicateBothWays } from '../../src/replication/both-ways.js';
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
} else if (mode === 'both') {
  const [role, ip, ...more] = rest;
  const port = role === 'connect' ? Number(more.shift()) : 0;
  const [forwardCount, landCount] = more.map(Number);
  const sub = channel.subscriber();
  const pub = channel.publisher();
  let peer: number;
  if (role === 'listen') {
    console.log(`listening ${worker.listen(ip!)}`);
    console.error('subscribed');
    peer = worker.accept(30_000);
  } else {
    console.error('subscribed');
    peer = worker.connect(ip!, port, 30_000);
  }
  console.log(JSON.stringify(await replicateBothWays(sub, pub, worker, peer, { ...options, forwardCount: forwardCount!, landCount: landCount! })));
} else {
  console.error('usage: replicate forward FILE NS NAME MAX_MESSAGE PEER_IP PORT COUNT | replicate land FILE NS NAME MAX_MESSAGE IP COUNT');
  process.exit(2);
}
worker.close();
channel.close();
