/**
 * One host's replicator for `shimmy bench --remote`: the node replicator the agents run
 * (src/replication/node-replicator.ts) for a run's channels, each a memory file of this host.
 *   replicator CONFIG_JSON   (a RemoteReplicatorConfig)
 * Prints "listening PORT", then "connected" once its link to the peer is up; ends on SIGTERM.
 */
import { Channel } from '../../src/channel/channel.js';
import { channelKey } from '../../src/channel/names.js';
import { NodeReplicator } from '../../src/replication/node-replicator.js';
import { UcxWorker } from '../../src/replication/ucx.js';

export interface RemoteReplicatorConfig {
  node: string;
  ip: string;
  port: number;
  peer: { node: string; ip: string; port: number };
  /** The cluster key, hex. */
  key: string;
  /** ReplicatorOptions.spoolDir. */
  spoolDir?: string;
  channels: { namespace: string; name: string; file: string; maxMessage: number; capacity: number }[];
}

const cfg = JSON.parse(process.argv[2]!) as RemoteReplicatorConfig;
const worker = UcxWorker.open({ key: Buffer.from(cfg.key, 'hex') });
console.log(`listening ${worker.listen(cfg.ip, cfg.port)}`);
const replicator = new NodeReplicator({
  node: cfg.node,
  worker,
  open: (c) => Channel.openFile(c.ref, c.file!),
  peerTimeoutMs: 60_000,
  ...(cfg.spoolDir ? { spoolDir: cfg.spoolDir } : {}),
  log: (level, msg, fields) => {
    if (msg === 'peer connected') console.log('connected');
    if (level === 'warn') console.error(JSON.stringify({ level, msg, ...fields }));
  },
});
replicator.configure({
  channels: cfg.channels.map((c) => {
    const ref = { namespace: c.namespace, name: c.name };
    return { ref, key: channelKey(ref), maxMessage: c.maxMessage, windowBytes: c.capacity, peers: [cfg.peer.node], file: c.file };
  }),
  addresses: [cfg.peer],
});
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
await replicator.run(stop.signal);
replicator.close();
worker.close();
