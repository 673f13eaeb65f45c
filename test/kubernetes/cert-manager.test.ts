/**
 * The cert-manager option (webhook.certManager.enabled, controller --tls-issuer=external) on
 * a real API server: the chart's Certificate and Issuers against cert-manager's own CRDs, and
 * a controller that only reads the Secret cert-manager writes. The test writes that Secret
 * itself, as cert-manager's CA issuer would (test/helpers/cert-manager.ts says why).
 */
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { KubernetesObjectApi, type KubernetesObject, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { issueClientCert, signedBy } from '../../src/webhook/certs.js';
import { callExtender } from '../helpers/extender.js';
import { installCertManagerCrds, issueLikeCertManager } from '../helpers/cert-manager.js';
import { eventually } from '../helpers/wait.js';
import { createChannel, createNamespace, pod, startCluster, type ClusterFixture, renderChartTemplate } from './cluster-fixture.js';

const NS = 'certs';
const SECRET = 'shimmy-webhook-from-cert-manager';
let f: ClusterFixture;

beforeAll(async () => {
  f = await startCluster({ nodes: 1, agents: true });
  await installCertManagerCrds(f.kc);
  await createNamespace(f, NS, true);
  await createChannel(f, NS, 'frames', { selector: { matchLabels: { pipeline: 'camera' } }, memory: 'HostIPC' });
});

afterAll(async () => {
  await f?.stop();
});

async function renderCertificates(...set: string[]): Promise<KubernetesObject[]> {
  return renderChartTemplate('webhook-certificate.yaml', f.state.namespace, 'webhook.certManager.enabled=true', ...set);
}

const apiMessage = (err: unknown) => {
  const body = String((err as { body?: string }).body ?? err);
  return body.startsWith('{') ? (JSON.parse(body) as { message: string }).message : body;
};

describe('cert-manager option', () => {
  it("renders Certificates and Issuers that cert-manager's CRDs accept, for the names the webhook and the extender are called by", async () => {
    const objects = KubernetesObjectApi.makeApiClient(f.kc);
    const own = await renderCertificates();
    expect(own.map((o) => `${o.kind}/${o.metadata!.name}`).sort()).toEqual([
      'Certificate/shimmy-extender-client',
      'Certificate/shimmy-webhook',
      'Certificate/shimmy-webhook-ca',
      'Issuer/shimmy-selfsigned',
      'Issuer/shimmy-webhook-ca',
    ]);
    const corp = await renderCertificates('webhook.certManager.issuerRef.name=corp-ca', 'webhook.certManager.issuerRef.kind=ClusterIssuer');
    expect(corp.map((o) => o.kind)).toEqual(['Certificate', 'Certificate']);
    for (const o of [...own, ...corp]) await objects.create(o, undefined, 'All');

    const serving = own.find((o) => o.metadata!.name === 'shimmy-webhook') as KubernetesObject & { spec: { secretName: string; dnsNames: string[] } };
    expect(serving.spec.secretName).toBe('shimmy-webhook-tls');
    expect(serving.spec.dnsNames).toContain(`shimmy-controller.${f.state.namespace}.svc`);
    expect(serving.spec.dnsNames).toContain(`shimmy-extender.${f.state.namespace}.svc`);
    // The scheduler's client certificate for the extender, from the same issuer as the serving one.
    const client = own.find((o) => o.metadata!.name === 'shimmy-extender-client') as KubernetesObject & {
      spec: { secretName: string; usages: string[]; issuerRef: unknown };
    };
    expect(client.spec).toMatchObject({ secretName: 'shimmy-extender-client', usages: expect.arrayContaining(['client auth']) });
    expect(client.spec.issuerRef).toEqual((serving as unknown as { spec: { issuerRef: unknown } }).spec.issuerRef);
    // The CRD's schema does check: a field of the wrong type is refused.
    const broken = { ...serving, spec: { ...serving.spec, dnsNames: 'shimmy-controller' } };
    const refused = await objects.create(broken, undefined, 'All').then(
      () => 'accepted',
      (err: unknown) => apiMessage(err),
    );
    expect(refused).toMatch(/spec\.dnsNames.*must be of type array/);
  });

  it('without the Secret the controller refuses to start, naming it and the Certificate to check', async () => {
    await expect(f.startController({ tlsIssuer: 'external', tlsSecret: SECRET })).rejects.toMatchObject({
      code: ErrorCode.WEBHOOK_TLS,
      message: expect.stringMatching(new RegExp(`${SECRET} does not exist.*describe certificate`)),
    });
  });

  it("serves cert-manager's certificate without writing the Secret, and swaps a renewed one in only once its CA is in the caBundle", async () => {
    const namespace = f.state.namespace;
    const hosts = ['127.0.0.1', 'localhost'];
    // propagationMs = max(3 s, 2 × 500 ms): a new CA must sit in the caBundle 3 s before its certificate is served.
    const starting = f.startController({ tlsIssuer: 'external', tlsSecret: SECRET, tlsWaitMs: 30_000, certCheckMs: 500 });
    // cert-manager issues a moment after the install: the start waits for the Secret, not ready meanwhile.
    await eventually('the controller to wait, not ready', async () => (await fetch(`http://127.0.0.1:${f.state.ports.metrics}/readyz`)).status === 503);
    let issued = issueLikeCertManager(SECRET, namespace, hosts, 3_600_000);
    let written = await f.core.createNamespacedSecret({ namespace, body: issued.secret });
    const controller = await starting;

    const caFirstSeen = new Map<string, number>();
    const servedFirstSeen = new Map<string, number>();
    const failures: string[] = [];
    let largestBundle = 0;
    let lastRenewal = Date.now();
    let renewals = 0;
    let created = 0;
    const deadline = Date.now() + 26_000;
    while (Date.now() < deadline) {
      // The last renewal leaves 5 s to be served before the end.
      if (Date.now() - lastRenewal > 5_000 && Date.now() < deadline - 5_000) {
        // A renewal with a new CA at the same moment: the case the hold-off is for.
        issued = issueLikeCertManager(SECRET, namespace, hosts, 3_600_000);
        const renewed = issued.secret;
        renewed.metadata!.resourceVersion = written.metadata!.resourceVersion;
        written = await f.core.replaceNamespacedSecret({ name: SECRET, namespace, body: renewed });
        lastRenewal = Date.now();
        renewals++;
      }
      const config = await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' });
      const bundle = Buffer.from(config.webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
      const cas = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
      largestBundle = Math.max(largestBundle, cas.length);
      for (const ca of cas) if (!caFirstSeen.has(ca.trim())) caFirstSeen.set(ca.trim(), Date.now());
      try {
        const served = await new Promise<string>((resolve, reject) => {
          const socket = tlsConnect({ host: '127.0.0.1', port: f.state.ports.webhook, ca: bundle, rejectUnauthorized: true }, () => {
            resolve(new X509Certificate(socket.getPeerCertificate(true).raw).toString());
            socket.end();
          });
          socket.on('error', reject);
        });
        if (!servedFirstSeen.has(served)) {
          servedFirstSeen.set(served, Date.now());
          const issuer = [...caFirstSeen.keys()].find((ca) => signedBy(served, ca));
          const inBundleFor = Date.now() - (caFirstSeen.get(issuer ?? '') ?? Date.now());
          if (servedFirstSeen.size > 1 && inBundleFor < 2_500) failures.push(`a certificate was served ${inBundleFor} ms after its CA reached the caBundle`);
        }
      } catch (err) {
        failures.push(`served certificate not trusted by the caBundle: ${String(err)}`);
      }
      const name = `cm-${created++}`;
      try {
        await f.core.createNamespacedPod({ namespace: NS, body: pod(name, { pipeline: 'camera' }) });
        if (!(await f.core.readNamespacedPod({ name, namespace: NS })).spec!.hostIPC) failures.push(`${name} not patched`);
      } catch (err) {
        failures.push(`${name}: ${apiMessage(err)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(renewals).toBeGreaterThanOrEqual(3);
    // Every renewal was served in the end, and the old CA stayed in the bundle next to the new.
    expect(servedFirstSeen.size).toBe(renewals + 1);
    expect(largestBundle).toBeGreaterThanOrEqual(2);
    expect((await controller.metrics.certRotations.get()).values.find((v) => v.labels.kind === 'serving')?.value).toBe(renewals);
    // The controller never wrote the Secret: it is exactly what the test wrote last.
    const now: V1Secret = await f.core.readNamespacedSecret({ name: SECRET, namespace });
    expect(now.metadata!.resourceVersion).toBe(written.metadata!.resourceVersion);
    // The extender serves the same certificate and takes client certificates from the issuer's
    // CA (cert-manager writes the scheduler's, from the chart's second Certificate); the
    // controller writes no client Secret of its own.
    const bundle = Buffer.from(
      (await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' })).webhooks![0]!.clientConfig.caBundle!,
      'base64',
    ).toString();
    const client = issueClientCert(issued.ca, 'shimmy-scheduler', [], 3_600_000);
    const args = { Pod: { metadata: { name: 'p', namespace: NS } }, NodeNames: ['node-1'] };
    expect((await callExtender(f.state.ports.extender, 'filter', args, { ...client, ca: bundle })).status).toBe(200);
    await expect(callExtender(f.state.ports.extender, 'filter', args, { ca: bundle })).rejects.toThrow();
    await expect(f.core.readNamespacedSecret({ name: 'shimmy-extender-client', namespace })).rejects.toMatchObject({ code: 404 });
    await f.stopController();
  }, 90_000);
});
