/**
 * A node's replicator (src/replication/node-replicator.ts) for one channel with one peer, as the
 * agent runs it, outside Kubernetes:
 *   node-replicator NODE FILE NS NAME MAX_MESSAGE WINDOW_BYTES LISTEN_IP PORT PEER PEER_IP PEER_PORT
 * FILE is the channel's memory file on this host; $REPLICATION_KEY (hex) is the cluster key; $MODE is the channel's mode (pubsub unless stream); $IDLE_US every idle wait (microseconds);
 * $SPOOL_DIR where the spools go (none: frames in memory only). Prints "listening PORT"; on SIGUSR2 the channel
 * is no longer wanted (as when its endpoint on this node goes); on SIGTERM prints its report as
 * JSON and exits.
 */
import { Channel } from '../../src/channel/channel.js';
import { channelKey } from '../../src/channel/names.js';
import { NodeReplicator } from '../../src/replication/node-replicator.js';
import { UcxWorker } from '../../src/replication/ucx.js';

const [node, file, namespace, name, maxMessage, windowBytes, ip, port, peer, peerIp, peerPort] = process.argv.slice(2);
const ref = { namespace: namespace!, name: name! };
const worker = UcxWorker.open({ key: Buffer.from(process.env.REPLICATION_KEY ?? '', 'hex') });
console.log(`listening ${worker.listen(ip!, Number(port))}`);
const replicator = new NodeReplicator({
  node: node!,
  worker,
  open: (c) => Channel.openFile(c.ref, file!),
  peerTimeoutMs: Number(process.env.PEER_TIMEOUT_MS ?? 60_000),
  sendTimeoutMs: Number(process.env.SEND_TIMEOUT_MS ?? 5000),
  ...(process.env.IDLE_US ? { idleUs: { min: Number(process.env.IDLE_US), max: Number(process.env.IDLE_US) } } : {}),
  ...(process.env.SPOOL_DIR ? { spoolDir: process.env.SPOOL_DIR } : {}),
  log: (level, msg, fields) => console.error(JSON.stringify({ level, msg, ...fields })),
});
replicator.configure({
  channels: [
    {
      ref,
      key: channelKey(ref),
      maxMessage: Number(maxMessage),
      windowBytes: Number(windowBytes),
      peers: [peer!],
      mode: process.env.MODE === 'stream' ? 'stream' : 'pubsub',
    },
  ],
  addresses: [{ node: peer!, ip: peerIp!, port: Number(peerPort) }],
});
process.on('SIGUSR2', () => replicator.configure({ channels: [], addresses: [] }));
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
await replicator.run(stop.signal);
console.log(JSON.stringify(replicator.report()));
replicator.close();
worker.close();
