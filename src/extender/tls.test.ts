/**
 * The extender over mutual TLS (issue 10): only a caller with a client certificate signed by
 * a trusted CA gets answers; anyone else is refused in the handshake, before a request is read.
 */
import type { Server as HttpsServer } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1MicroTime } from '@kubernetes/client-node';
import { pino } from 'pino';
import { AgentLeases } from '../k8s/agent-leases.js';
import { ChannelDirectory } from '../k8s/channel-directory.js';
import { PlacementIndex } from '../k8s/placement-index.js';
import { ExtenderMetrics } from '../metrics/extender-metrics.js';
import { createCA, issueClientCert, issueServingCert } from '../webhook/certs.js';
import { callExtender } from '../../test/helpers/extender.js';
import { buildExtenderServer, type ExtenderServer } from './server.js';

const HOUR = 3600e3;
const ca = createCA('extender-test-ca', HOUR);
const otherCa = createCA('someone-else', HOUR);
const serving = issueServingCert(ca, ['127.0.0.1'], HOUR);
const scheduler = issueClientCert(ca, 'shimmy-scheduler', ['shimmy'], HOUR);
const stranger = issueClientCert(otherCa, 'shimmy-scheduler', ['shimmy'], HOUR);

const agents = new AgentLeases();
agents.upsert({ metadata: { name: 'agent.n1' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 600, renewTime: new V1MicroTime() } });
const metrics = new ExtenderMetrics();
let server: ExtenderServer;
let port: number;
/** Why the server refused each handshake, as OpenSSL put it. */
const serverSaw: string[] = [];

beforeAll(async () => {
  server = buildExtenderServer({
    requestTimeoutMs: 2000,
    view: { channels: new ChannelDirectory(), index: new PlacementIndex(), agents, agentNamespace: 'shimmy-system' },
    metrics,
    log: pino({ level: 'silent' }),
    tls: { ...serving, clientCAs: ca.cert },
  });
  const url = new URL(await server.app.listen({ host: '127.0.0.1', port: 0 }));
  port = Number(url.port);
  (server.app.server as HttpsServer).on('tlsClientError', (err) => serverSaw.push(err.message));
});

afterAll(async () => {
  await server?.close();
});

const ARGS = { Pod: { metadata: { name: 'p', namespace: 'ns' } }, NodeNames: ['n1', 'n2'] };

/** POST to the extender over HTTPS, checking its certificate against `trust`; a fresh connection each time. */
const call = (verb: 'filter' | 'prioritize', client: { cert?: string; key?: string }, trust = ca.cert) =>
  callExtender(port, verb, ARGS, { ...client, ca: trust });

const refusals = async () => (await metrics.extenderRefused.get()).values[0]?.value ?? 0;

/** Calls answered so far (filter and prioritize). */
const answered = async () => (await metrics.extenderSeconds.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0);

/**
 * The call fails on the client's side, the server refused its handshake (OpenSSL names
 * `reason` when it fails the handshake itself; a certificate that does not verify is cut
 * right after it), and no request reached the extender.
 */
async function refused(calling: Promise<unknown>, reason = /./): Promise<void> {
  serverSaw.length = 0;
  const before = await answered();
  await expect(calling).rejects.toThrow();
  await expect.poll(() => serverSaw.join('\n')).toMatch(reason);
  expect(await answered()).toBe(before);
}

describe('the extender over mutual TLS', () => {
  it('answers filter and prioritize for a client certificate signed by its CA, over a certificate that CA vouches for', async () => {
    const filtered = await call('filter', scheduler);
    expect(filtered.status).toBe(200);
    expect(filtered.body).toMatchObject({ NodeNames: ['n1', 'n2'], Error: '' });
    const scores = await call('prioritize', scheduler);
    expect(scores.status).toBe(200);
    expect(scores.body).toHaveLength(2);
  });

  it('refuses a caller without a client certificate in the handshake, and counts it', async () => {
    const before = await refusals();
    await refused(call('filter', {}), /peer did not return a certificate/);
    await refused(call('prioritize', {}), /peer did not return a certificate/);
    expect(await refusals()).toBeGreaterThanOrEqual(before + 2);
  });

  it('refuses a client certificate from another CA', async () => {
    const before = await refusals();
    await refused(call('filter', stranger));
    expect(await refusals()).toBeGreaterThan(before);
  });

  it('refuses the CA-signed serving certificate as a client certificate (it is for serverAuth only)', async () => {
    await refused(call('filter', serving));
  });

  it('refuses plain HTTP on its port', async () => {
    const before = await refusals();
    const plain = fetch(`http://127.0.0.1:${port}/filter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ARGS),
      signal: AbortSignal.timeout(5000),
    });
    await refused(plain, /wrong version number|http request/i);
    expect(await refusals()).toBeGreaterThan(before);
  });

  it('never falls back to the public roots Node would trust for an empty CA list', () => {
    const build = () =>
      buildExtenderServer({
        view: { channels: new ChannelDirectory(), index: new PlacementIndex(), agents, agentNamespace: 'shimmy-system' },
        metrics,
        log: pino({ level: 'silent' }),
        tls: { ...serving, clientCAs: '' },
      });
    expect(build).toThrow(/no CA to check client certificates against/);
  });

  it('follows a rotation: a new serving certificate and CA are used at once, and the client CAs it drops are refused', async () => {
    const nextCa = createCA('extender-test-ca-next', HOUR);
    const nextServing = issueServingCert(nextCa, ['127.0.0.1'], HOUR);
    const nextScheduler = issueClientCert(nextCa, 'shimmy-scheduler', ['shimmy'], HOUR);
    // The next CA joins the trusted set first: both generations of client certificates work.
    server.useTls({ ...serving, clientCAs: ca.cert + nextCa.cert });
    expect((await call('filter', nextScheduler)).status).toBe(200);
    expect((await call('filter', scheduler)).status).toBe(200);
    // Then it serves a certificate of the next CA, and trusts only that CA.
    server.useTls({ ...nextServing, clientCAs: nextCa.cert });
    expect((await call('filter', nextScheduler, nextCa.cert)).status).toBe(200);
    await refused(call('filter', scheduler, nextCa.cert));
    // Still mutual TLS after the swap: no certificate, no answer.
    await refused(call('filter', {}, nextCa.cert), /peer did not return a certificate/);
    // A CA list that lost its certificates is not swapped in.
    server.useTls({ ...nextServing, clientCAs: '' });
    expect((await call('filter', nextScheduler, nextCa.cert)).status).toBe(200);
    // The old CA no longer vouches for what it serves.
    await expect(call('filter', nextScheduler, ca.cert)).rejects.toThrow(/self-signed|unable to (get|verify)/i);
  });
});
