/**
 * Malformed and odd requests sent straight to the webhook (HTTPS) and extender (HTTP)
 * servers over real sockets: each gets a clear answer, and the servers keep serving.
 */
import { connect as connectTcp } from 'node:net';
import { request } from 'node:https';
import { connect as connectTls } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1MicroTime } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ControllerMetrics } from '../../src/metrics/controller-metrics.js';
import { ExtenderMetrics } from '../../src/metrics/extender-metrics.js';
import { buildExtenderServer, type ExtenderServer } from '../../src/extender/server.js';
import { AgentLeases } from '../../src/k8s/agent-leases.js';
import { ChannelDirectory } from '../../src/k8s/channel-directory.js';
import { PlacementIndex } from '../../src/k8s/placement-index.js';
import { createCA, issueServingCert } from '../../src/webhook/certs.js';
import { buildWebhookServer, MAX_REVIEW_BYTES, type WebhookServer } from '../../src/webhook/server.js';
import { until, within } from '../helpers/wait.js';

const log = pino({ level: 'silent' });
const ca = createCA('test-ca', 3600e3);
const tls = issueServingCert(ca, ['127.0.0.1'], 3600e3);
const channels = new ChannelDirectory();
channels.upsert({ metadata: { namespace: 'ns', name: 'frames', uid: 'u' }, spec: { selector: { matchLabels: { app: 'cam' } } } });
channels.upsert({
  metadata: { namespace: 'ns', name: 'broken', uid: 'v' },
  spec: { selector: { matchExpressions: [{ key: 'x', operator: 'Near', values: ['y'] }] } },
});
const agents = new AgentLeases();
agents.upsert({ metadata: { name: 'agent.n1' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 600, renewTime: new V1MicroTime() } });

let webhook: WebhookServer;
let extender: ExtenderServer;
let webhookUrl: string;
let extenderUrl: string;

beforeAll(async () => {
  webhook = buildWebhookServer({
    requestTimeoutMs: 1000,
    context: { match: (ns, labels) => channels.match(ns, labels) },
    tls,
    metrics: new ControllerMetrics(false),
    log,
  });
  extender = buildExtenderServer({
    requestTimeoutMs: 1000,
    view: { channels, index: new PlacementIndex(), agents, agentNamespace: 'shimmy-system' },
    metrics: new ExtenderMetrics(),
    log,
  });
  webhookUrl = `${await webhook.app.listen({ host: '127.0.0.1', port: 0 })}/mutate`;
  extenderUrl = await extender.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await webhook?.close();
  await extender?.close();
});

function postTls(url: string, body: string | Buffer, contentType = 'application/json'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca: ca.cert, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const review = (request: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'ns', operation: 'CREATE', ...request },
  });
const camPod = { metadata: { labels: { app: 'cam' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };

/** Sends headers and half a body, then nothing: the server must answer 408 and close. */
function stall(url: string, secure: boolean): Promise<{ ms: number; statusLine: string }> {
  const { port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = secure ? connectTls({ port: Number(port), host: '127.0.0.1', ca: ca.cert }) : connectTcp(Number(port), '127.0.0.1');
    socket.on(secure ? 'secureConnect' : 'connect', () =>
      socket.write(`POST ${new URL(url).pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion":`),
    );
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('close', () => resolve({ ms: Date.now() - started, statusLine: data.split('\r\n')[0]! }));
  });
}

describe('a client that stops sending half-way', () => {
  it('gets 408 from both servers within the request deadline, not a hung connection', async () => {
    for (const [url, secure] of [
      [webhookUrl, true],
      [`${extenderUrl}/filter`, false],
    ] as const) {
      const { ms, statusLine } = await stall(url, secure);
      expect(statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(ms).toBeLessThan(5000);
    }
  });
});

describe('a client that connects and sends nothing', () => {
  it('is disconnected by both servers within the request deadline (TLS: no handshake; HTTP: no request)', async () => {
    for (const url of [webhookUrl, extenderUrl]) {
      const started = Date.now();
      const socket = connectTcp(Number(new URL(url).port), '127.0.0.1');
      socket.on('error', () => undefined);
      // Read, so that the server's FIN is seen and the socket closes.
      socket.resume();
      // The servers' deadline here is 1 s; Node's default TLS handshake timeout is 120 s.
      await within(new Promise((resolve) => socket.on('close', resolve)), `${url} to close a silent connection`, 5000).finally(() => socket.destroy());
      expect(Date.now() - started, url).toBeLessThan(5000);
    }
  });
});

describe('a kept-alive connection left idle', () => {
  it("stays open longer than Node's default 5 s, so the API server (which keeps one 90 s) closes it first and never sends into a closing one", async () => {
    const { port } = new URL(webhookUrl);
    const socket = connectTls({ port: Number(port), host: '127.0.0.1', ca: ca.cert });
    try {
      await new Promise((resolve) => socket.on('secureConnect', resolve));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      const body = review({ object: camPod });
      const post = `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const answers = () => data.split('HTTP/1.1 200 OK').length - 1;
      socket.write(post);
      await until(() => answers() === 1, 'the first answer', 5000);
      await new Promise((r) => setTimeout(r, 6000));
      expect(socket.destroyed).toBe(false);
      socket.write(post);
      await until(() => answers() === 2, 'the second answer on the same connection', 5000);
    } finally {
      socket.destroy();
    }
  }, 20_000);
});

describe('webhook server, bad input', () => {
  it.each([
    ['not JSON', '{"apiVersion": ', 400, /Unexpected|JSON/i],
    ['a JSON array', '[]', 400, /not a JSON object/],
    ['another kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), 400, /expected "AdmissionReview"/],
    ['v1beta1', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }), 400, /admission.k8s.io\/v1 only/],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }), 400, /request.uid is missing/],
  ])('answers %s with HTTP %i and the reason', async (_what, body, status, message) => {
    const res = await postTls(webhookUrl, body);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body).error).toMatch(message);
  });

  it('refuses an oversized review with 413 and the limit', async () => {
    const res = await postTls(webhookUrl, Buffer.alloc(MAX_REVIEW_BYTES + 1024, 32));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toContain(`limit ${MAX_REVIEW_BYTES} bytes`);
  });

  it('allows what it does not handle, with a warning: another resource, no containers, an update', async () => {
    const deployment = JSON.parse((await postTls(webhookUrl, review({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: {} }))).body);
    expect(deployment.response).toMatchObject({ uid: 'u-1', allowed: true, warnings: [expect.stringMatching(/v1 Pods only, got apps\/v1\/Deployment/)] });
    expect(deployment.response.patch).toBeUndefined();
    const empty = JSON.parse((await postTls(webhookUrl, review({ object: { metadata: { labels: { app: 'cam' } }, spec: { containers: [] } } }))).body);
    expect(empty.response).toMatchObject({ allowed: true, warnings: [expect.stringMatching(/no containers/)] });
    const update = JSON.parse((await postTls(webhookUrl, review({ operation: 'UPDATE', object: camPod }))).body);
    expect(update.response).toEqual({ uid: 'u-1', allowed: true });
  });

  it('skips a channel with an invalid selector with a warning, and still injects the others', async () => {
    const res = JSON.parse((await postTls(webhookUrl, review({ object: camPod }))).body);
    expect(res.response.allowed).toBe(true);
    expect(res.response.warnings.join('\n')).toMatch(/channel broken was skipped: matchExpressions\[0\] has unknown operator "Near"/);
    const ops = JSON.parse(Buffer.from(res.response.patch, 'base64').toString());
    expect(ops).toContainEqual({ op: 'add', path: '/metadata/annotations', value: { 'shimmy.dev/channels': 'frames' } });
  });
});

describe('extender server, bad input', () => {
  const post = async (verb: string, body: string) => {
    const res = await fetch(`${extenderUrl}/${verb}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const pod = { metadata: { name: 'p', namespace: 'ns', annotations: { 'shimmy.dev/channels': 'frames' } } };

  it.each([
    ['not JSON', '{', /JSON/i],
    ['no Pod', JSON.stringify({ NodeNames: ['n1'] }), /Pod is missing/],
    ['NodeNames of numbers', JSON.stringify({ Pod: pod, NodeNames: [1] }), /NodeNames must be a list of strings/],
    ['no nodes at all', JSON.stringify({ Pod: pod }), /neither NodeNames .* nor Nodes.items/],
    ['a node without a name', JSON.stringify({ Pod: pod, Nodes: { items: [{ metadata: {} }] } }), /Nodes.items\[0\] has no metadata.name/],
  ])('answers %s with HTTP 400 and Error', async (_what, body, message) => {
    for (const verb of ['filter', 'prioritize']) {
      const res = await post(verb, body);
      expect(res.status).toBe(400);
      expect(res.json.Error).toMatch(message);
    }
  });

  it('filters full Node objects (nodeCacheCapable: false) and names (true) alike', async () => {
    const byObjects = await post('filter', JSON.stringify({ Pod: pod, Nodes: { items: [{ metadata: { name: 'n1' } }, { metadata: { name: 'n2' } }] } }));
    expect(byObjects.status).toBe(200);
    expect(byObjects.json).toMatchObject({ Nodes: { items: [{ metadata: { name: 'n1' } }] }, Error: '' });
    expect((byObjects.json.FailedAndUnresolvableNodes as Record<string, string>).n2).toMatch(/agent not ready/);
    const byNames = await post('filter', JSON.stringify({ Pod: pod, NodeNames: ['n1', 'n2'] }));
    expect(byNames.json).toMatchObject({ NodeNames: ['n1'], Error: '' });
    const scores = await post('prioritize', JSON.stringify({ Pod: pod, NodeNames: ['n1', 'n2'] }));
    expect(scores.json).toHaveLength(2);
  });
});
