/**
 * The benchmark's server process: the webhook and the extender over real sockets, on a
 * synthetic cluster, apart from the load generator so they do not share an event loop.
 * Prints {"webhook": URL, "extender": URL, "ca": PEM} on stdout; stops when stdin closes.
 */
import Fastify from 'fastify';
import { pino } from 'pino';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { buildExtenderServer } from '../../src/extender/server.js';
import { createCA, issueServingCert } from '../../src/webhook/certs.js';
import { buildWebhookServer } from '../../src/webhook/server.js';
import { syntheticView } from './synthetic-cluster.js';

const [nodes, pods, channels] = process.argv.slice(2).map(Number) as [number, number, number];
const view = syntheticView({ nodes, pods, channels });
const log = pino({ level: 'warn' });
const ca = createCA('bench-ca', 3600e3);
const webhook = buildWebhookServer({
  context: { match: (ns, labels) => view.channels.match(ns, labels), schedulerName: 'shimmy-scheduler' },
  tls: issueServingCert(ca, ['127.0.0.1'], 3600e3),
  metrics: new ControllerMetrics(false),
  log,
});
const extender = buildExtenderServer({ view, metrics: new ControllerMetrics(false), log });
// The floor: an empty fastify endpoint in this same process, measured the same way.
const floor = Fastify();
floor.post('/noop', async () => ({}));
const floorUrl = await floor.listen({ host: '127.0.0.1', port: 0 });
const tlsFloor = Fastify({ https: issueServingCert(ca, ['127.0.0.1'], 3600e3) });
tlsFloor.post('/noop', async () => ({}));
const tlsFloorUrl = await tlsFloor.listen({ host: '127.0.0.1', port: 0 });
const webhookUrl = await webhook.app.listen({ host: '127.0.0.1', port: 0 });
const extenderUrl = await extender.app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(
  `${JSON.stringify({ webhook: `${webhookUrl}/mutate`, extender: extenderUrl, floor: `${floorUrl}/noop`, tlsFloor: `${tlsFloorUrl}/noop`, ca: ca.cert })}\n`,
);
process.stdin.resume();
process.stdin.on('end', () => {
  void Promise.all([webhook.close(), extender.close(), floor.close(), tlsFloor.close()]).then(() => process.exit(0));
});
