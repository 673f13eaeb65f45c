/**
 * What the controller's certificate manager does for the scheduler extender (issue 10), against
 * in-memory Secrets: it keeps the scheduler's client certificate in its own Secret, names the
 * extender in the serving certificate, and hands the extender the CAs to trust.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AdmissionregistrationV1Api, CoreV1Api, V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ControllerMetrics } from '../metrics/controller-metrics.js';
import { createCA, issueServingCert, signedBy } from './certs.js';
import { WebhookCertManager, type CertManagerOptions } from './cert-manager.js';
import { loadWebhookTemplate } from './webhook-config.js';

const NS = 'shimmy-system';
const DAY = 86_400_000;
const EXTENDER_HOSTS = ['shimmy-extender.shimmy-system.svc', 'shimmy-extender.shimmy-system.svc.cluster.local', '10.96.0.88'];

/** Secrets and one webhook configuration in memory, with resourceVersions and 404/409 as the API server answers. */
function fakeApis() {
  const secrets = new Map<string, V1Secret>();
  let config: V1MutatingWebhookConfiguration | undefined;
  let version = 0;
  const notFound = () => Object.assign(new Error('not found'), { code: 404 });
  const core = {
    readNamespacedSecret: async ({ name }: { name: string }) => {
      const secret = secrets.get(name);
      if (!secret) throw notFound();
      return structuredClone(secret);
    },
    createNamespacedSecret: async ({ body }: { body: V1Secret }) => {
      if (secrets.has(body.metadata!.name!)) throw Object.assign(new Error('exists'), { code: 409 });
      secrets.set(body.metadata!.name!, { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } });
      return body;
    },
    replaceNamespacedSecret: async ({ name, body }: { name: string; body: V1Secret }) => {
      if (secrets.get(name)?.metadata?.resourceVersion !== body.metadata?.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
      secrets.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } });
      return body;
    },
  };
  const admission = {
    readMutatingWebhookConfiguration: async () => {
      if (!config) throw notFound();
      return structuredClone(config);
    },
    createMutatingWebhookConfiguration: async ({ body }: { body: V1MutatingWebhookConfiguration }) => (config = structuredClone(body)),
    replaceMutatingWebhookConfiguration: async ({ body }: { body: V1MutatingWebhookConfiguration }) => (config = structuredClone(body)),
  };
  const read = (name: string) =>
    Object.fromEntries(Object.entries(secrets.get(name)?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])) as Record<string, string>;
  return { core: core as unknown as CoreV1Api, admission: admission as unknown as AdmissionregistrationV1Api, secrets, read };
}

function manager(apis: ReturnType<typeof fakeApis>, overrides: Partial<CertManagerOptions> = {}) {
  return new WebhookCertManager({
    core: apis.core,
    admission: apis.admission,
    namespace: NS,
    secretName: 'shimmy-webhook-tls',
    issuer: 'controller',
    template: loadWebhookTemplate(),
    hosts: ['shimmy-controller.shimmy-system.svc', ...EXTENDER_HOSTS],
    clientSecretName: 'shimmy-extender-client',
    caValidityMs: 365 * DAY,
    certValidityMs: 30 * DAY,
    propagationMs: 3000,
    checkEveryMs: 3_600_000,
    metrics: new ControllerMetrics(false),
    log: pino({ level: 'silent' }),
    ...overrides,
  });
}

describe("the controller's certificates for the extender", () => {
  it("keeps the scheduler's client certificate in its Secret: signed by the CA, for client auth only, with the CAs to check the extender by", async () => {
    const apis = fakeApis();
    const certs = manager(apis);
    await certs.loadCertificate();
    await certs.start();
    await certs.stop();
    const tls = apis.read('shimmy-webhook-tls');
    const client = apis.read('shimmy-extender-client');
    expect(apis.secrets.get('shimmy-extender-client')!.type).toBe('kubernetes.io/tls');
    expect(signedBy(client['tls.crt']!, tls['ca.crt']!)).toBe(true);
    expect(client['ca.crt']).toBe(tls['ca.crt']);
    const cert = new X509Certificate(client['tls.crt']!);
    expect(cert.subject).toContain('CN=shimmy-scheduler');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // extKeyUsage clientAuth, nothing else
    expect(cert.checkPrivateKey(createPrivateKey(client['tls.key']!))).toBe(true);
    // The serving certificate names the extender's Service and fixed address; the extender trusts the CA.
    for (const host of EXTENDER_HOSTS)
      expect(/^[\d.]+$/.test(host) ? new X509Certificate(tls['tls.crt']!).checkIP(host) : new X509Certificate(tls['tls.crt']!).checkHost(host)).toBe(host);
    expect(certs.clientCAs()).toBe(tls['ca.crt']);

    // A second replica, or the next check, finds it fresh and writes nothing.
    const version = apis.secrets.get('shimmy-extender-client')!.metadata!.resourceVersion;
    const again = manager(apis);
    await again.loadCertificate();
    await again.start();
    await again.stop();
    expect(apis.secrets.get('shimmy-extender-client')!.metadata!.resourceVersion).toBe(version);
  });

  it('reissues the client certificate when another CA signed it or its lifetime no longer fits, and the serving one when it does not name the extender', async () => {
    const apis = fakeApis();
    // What an older controller left: a CA, and a serving certificate for the webhook's name only.
    const ca = createCA('shimmy-webhook-ca', 365 * DAY);
    const old = issueServingCert(ca, ['shimmy-controller.shimmy-system.svc'], 30 * DAY);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const data = { 'ca.crt': b64(ca.cert), 'ca.key': b64(ca.key), 'tls.crt': b64(old.cert), 'tls.key': b64(old.key) };
    await apis.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'shimmy-webhook-tls', namespace: NS }, data } });
    const certs = manager(apis);
    const served = await certs.loadCertificate();
    expect(served.cert).not.toBe(old.cert);
    expect(new X509Certificate(served.cert).checkHost('shimmy-extender.shimmy-system.svc')).toBe('shimmy-extender.shimmy-system.svc');
    expect(signedBy(served.cert, ca.cert)).toBe(true);

    // A client certificate from another CA, or one near its end, is replaced.
    await certs.start();
    const first = apis.read('shimmy-extender-client')['tls.crt']!;
    await certs.stop();
    const stale = apis.secrets.get('shimmy-extender-client')!;
    const foreign = createCA('elsewhere', DAY);
    const foreignCert = issueServingCert(foreign, ['x'], DAY);
    stale.data = { ...stale.data, 'tls.crt': b64(foreignCert.cert), 'tls.key': b64(foreignCert.key) };
    const renewing = manager(apis);
    await renewing.loadCertificate();
    await renewing.start();
    await renewing.stop();
    const renewed = apis.read('shimmy-extender-client')['tls.crt']!;
    expect(renewed).not.toBe(first);
    expect(signedBy(renewed, ca.cert)).toBe(true);
    const shortLived = manager(apis, { certValidityMs: DAY });
    await shortLived.loadCertificate();
    await shortLived.start();
    await shortLived.stop();
    // Issued for 30 days, kept by a controller whose certificates last one: more than its validity left, so reissued.
    expect(apis.read('shimmy-extender-client')['tls.crt']).not.toBe(renewed);
  });

  it('tells the extender when the CAs to trust change, and writes no client Secret with an external issuer', async () => {
    const apis = fakeApis();
    const certs = manager(apis, { caValidityMs: 2 * DAY });
    const seen: string[] = [];
    certs.onClientCAs((pems) => seen.push(pems));
    await certs.loadCertificate();
    // A CA with more life left than --ca-validity allows rotates at once: the next CA joins the trusted set.
    const rotating = manager(apis, { caValidityMs: DAY });
    rotating.onClientCAs((pems) => seen.push(pems));
    await rotating.loadCertificate();
    expect(seen.at(-1)!.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(rotating.clientCAs()).toBe(seen.at(-1));

    const external = fakeApis();
    const ca = createCA('cert-manager-ca', DAY);
    const serving = issueServingCert(ca, ['127.0.0.1'], DAY);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await external.core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'issued', namespace: NS }, data: { 'ca.crt': b64(ca.cert), 'tls.crt': b64(serving.cert), 'tls.key': b64(serving.key) } },
    });
    const reader = manager(external, { issuer: 'external', secretName: 'issued' });
    await reader.loadCertificate();
    await reader.start();
    await reader.stop();
    expect(reader.clientCAs()).toContain(ca.cert.trim());
    expect(external.secrets.has('shimmy-extender-client')).toBe(false);
  });
});
