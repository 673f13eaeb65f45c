/** The extender's worker thread (see worker-protocol.ts); started by ExtenderWorker. */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { AgentLeases } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import { ExtenderMetrics } from '../metrics/extender-metrics.js';
import type { PlacementView } from './placement.js';
import { buildExtenderServer } from './server.js';
import type { CacheChange, ExtenderWorkerData, FromWorker, ToWorker } from './worker-protocol.js';

const data = workerData as ExtenderWorkerData;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);
const log = pino({ level: data.logLevel, base: { component: 'shimmy-controller', part: 'extender-worker' } });
const metrics = new ExtenderMetrics();
const directory = new ChannelDirectory();
const index = new PlacementIndex();
const agents = new AgentLeases();
const view: PlacementView = { channels: directory, index, agents, agentNamespace: data.agentNamespace };
const assumptionTimer = setInterval(() => index.expireAssumptions(), 5000);

function apply(change: CacheChange): void {
  if (change.kind === 'channel') (change.op === 'upsert' ? directory.upsert : directory.remove).call(directory, change.object);
  else if (change.kind === 'pod') (change.op === 'upsert' ? index.upsertPod : index.removePod).call(index, change.object);
  else (change.op === 'upsert' ? agents.upsert : agents.remove).call(agents, change.object);
}

const server = buildExtenderServer({
  ...(data.shutdownGraceMs !== undefined ? { shutdownGraceMs: data.shutdownGraceMs } : {}),
  ...(data.tls ? { tls: data.tls } : {}),
  view,
  metrics,
  log,
});

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'changes':
      for (const change of message.changes) apply(change);
      break;
    case 'tls':
      server.useTls(message.tls);
      break;
    case 'metrics':
      void metrics.registry.metrics().then((text) => send({ type: 'metrics', id: message.id, text }));
      break;
    case 'close':
      clearInterval(assumptionTimer);
      void server.close().then(() => {
        send({ type: 'closed' });
        port.close();
      });
      break;
  }
});

server.app.listen({ host: data.host, port: data.port }).then(
  () => {
    const address = server.app.server.address();
    send({ type: 'listening', port: typeof address === 'object' && address ? address.port : data.port });
  },
  (err: Error) => send({ type: 'failed', message: err.message }),
);
