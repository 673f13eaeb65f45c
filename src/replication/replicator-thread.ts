/**
 * The agent's replication thread: a NodeReplicator on a UcxWorker of its own (UCX calls block
 * their thread, so they stay off the agent's event loop). Started by ReplicationThread
 * (src/agent/replication.ts); reports its counters every `reportMs`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Channel } from '../channel/channel.js';
import { AgentLock } from './agent-lock.js';
import { NodeReplicator } from './node-replicator.js';
import type { FromReplicator, ReplicationWorkerData, ToReplicator } from './thread-protocol.js';
import { UcxWorker } from './ucx.js';

const data = workerData as ReplicationWorkerData;
const port = parentPort!;
const send = (message: FromReplicator) => port.postMessage(message);
const log = pino({ level: data.logLevel, base: { component: 'shimmy-agent', node: data.node, part: 'replication' } });

const worker = UcxWorker.open({ tls: data.tls, devices: data.devices, key: data.key });
const listening = worker.listen(data.ip, data.port);
const lock = new AgentLock();
const replicator = new NodeReplicator({
  node: data.node,
  worker,
  open: (c) => (c.file ? Channel.openFile(c.ref, c.file) : Channel.open(c.ref)),
  peerTimeoutMs: data.peerTimeoutMs,
  soleAgent: () => lock.held(),
  ...(data.spoolDir ? { spoolDir: data.spoolDir } : {}),
  log: (level, msg, fields) => log[level](fields, msg),
});
const stop = new AbortController();
port.on('message', (message: ToReplicator) => {
  if (message.type === 'configure') replicator.configure(message.config);
  else stop.abort();
});
const reportTimer = setInterval(() => send({ type: 'report', report: replicator.report() }), data.reportMs);
log.info(
  {
    address: `${data.ip}:${listening}`,
    tls: data.tls || '(UCX chooses)',
    devices: data.devices || '(all)',
    mac: 'AES-256-GMAC, a key per process derived from the cluster key',
  },
  'replication listening',
);
if (!lock.held())
  log.warn(
    { err: lock.lastError ?? 'another live process on this node holds it (a second agent?)' },
    "this node's agent lock is not held: an earlier agent's landers are adopted only once its heartbeat has stopped",
  );
send({ type: 'listening', port: listening });
try {
  await replicator.run(stop.signal);
  send({ type: 'report', report: replicator.report() });
} finally {
  // Also when the loop fails: the listener and UCX's own thread must not outlive this thread.
  clearInterval(reportTimer);
  replicator.close();
  worker.close();
  lock.release();
}
send({ type: 'stopped' });
port.close();
