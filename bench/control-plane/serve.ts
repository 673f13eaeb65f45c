/**
 * The benchmark's server process: the webhook and the extender over real sockets, on a
 * synthetic cluster, apart from the load generator so they do not share an event loop.
 * The extender serves HTTPS with client certificates, as installed; its floor does too.
 * Prints the URLs, the CA and the load generator's client certificate as one JSON line on
 * stdout; stops when stdin closes.
 */
import Fastify from 'fastify';
import { pino } from 'pino';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { ExtenderMetrics } from '../../src/metrics/extender-metrics.js';
import { buildExtenderServer } from '../../src/extender/server.js';
import { createCA, issueClientCert, issueServingCert } from '../../src/webhook/certs.js';
import { buildWebhookServer } from '../../src/webhook/server.js';
import { syntheticView } from './synthetic-cluster.js';

const [nodes, pods, channels] = process.argv.slice(2).map(Number) as [number, number, number];
const view = syntheticView({ nodes, pods, channels });
const log = pino({ level: 'warn' });
const ca = createCA('bench-ca', 3600e3);
// One key pair for every server: node-forge makes RSA keys in JavaScript, seconds each.
const serving = issueServingCert(ca, ['127.0.0.1'], 3600e3);
const webhook = buildWebhookServer({
  context: { match: (ns, labels) => view.channels.match(ns, labels), schedulerName: 'shimmy-scheduler' },
  tls: serving,
  metrics: new ControllerMetrics(false),
  log,
});
const extender = buildExtenderServer({
  view,
  metrics: new ExtenderMetrics(),
  log,
  tls: { ...serving, clientCAs: ca.cert },
});
const client = issueClientCert(ca, 'system:kube-scheduler', [], 3600e3);
// The floor: an empty fastify endpoint in this same process, measured the same way.
const floor = Fastify({ https: { ...serving, ca: ca.cert, requestCert: true, rejectUnauthorized: true } });
floor.post('/noop', async () => ({}));
const floorUrl = await floor.listen({ host: '127.0.0.1', port: 0 });
const tlsFloor = Fastify({ https: serving });
tlsFloor.post('/noop', async () => ({}));
const tlsFloorUrl = await tlsFloor.listen({ host: '127.0.0.1', port: 0 });
const webhookUrl = await webhook.app.listen({ host: '127.0.0.1', port: 0 });
const extenderUrl = await extender.app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(
  `${JSON.stringify({ webhook: `${webhookUrl}/mutate`, extender: extenderUrl, floor: `${floorUrl}/noop`, tlsFloor: `${tlsFloorUrl}/noop`, ca: ca.cert, clientCert: client.cert, clientKey: client.key })}\n`,
);
process.stdin.resume();
process.stdin.on('end', () => {
  void Promise.all([webhook.close(), extender.close(), floor.close(), tlsFloor.close()]).then(() => process.exit(0));
});
