/**
 * cert-manager's own CRDs, from its Go module (github.com/cert-manager/cert-manager, through
 * the Go module proxy and its cache), so the chart's Certificate and Issuers are checked
 * against the schema cert-manager ships. cert-manager's controller is not built here: its
 * binaries live in nested modules (`cmd/controller`) that the module proxy reachable here does not serve. Tests
 * play its part by writing the Secret it would write (`issueLikeCertManager`).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition, type V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { createCA, issueServingCert, type CertificateAuthority } from '../../src/webhook/certs.js';
import { eventually } from './wait.js';

export const CERT_MANAGER_VERSION = 'v1.21.2';

const exec = promisify(execFile);

/** The cert-manager.io CRDs (Certificate, Issuer, ClusterIssuer, CertificateRequest). */
export async function certManagerCrds(): Promise<V1CustomResourceDefinition[]> {
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` };
  const { stdout } = await exec('go', ['mod', 'download', '-json', `github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}`], {
    env,
    maxBuffer: 1 << 20,
  });
  const dir = join((JSON.parse(stdout) as { Dir: string }).Dir, 'deploy', 'crds');
  return readdirSync(dir)
    .filter((f) => f.startsWith('cert-manager.io_') && f.endsWith('.yaml'))
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as V1CustomResourceDefinition);
}

export async function installCertManagerCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds = await certManagerCrds();
  for (const body of crds) await api.createCustomResourceDefinition({ body });
  for (const crd of crds)
    await eventually(`CRD ${crd.metadata!.name} established`, async () => {
      const got = await api.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
}

/** A fresh CA and a serving certificate it signed, as cert-manager's CA issuer writes them. */
export function issueLikeCertManager(name: string, namespace: string, hosts: string[], validityMs: number): { secret: V1Secret; ca: CertificateAuthority } {
  const ca = createCA(`${name}-ca`, validityMs * 3);
  const serving = issueServingCert(ca, hosts, validityMs);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    ca,
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name, namespace, annotations: { 'cert-manager.io/certificate-name': name } },
      data: { 'tls.crt': b64(serving.cert), 'tls.key': b64(serving.key), 'ca.crt': b64(ca.cert) },
    },
  };
}
