/**
 * Keeps the webhook's TLS current without refusing a request:
 * - the CA and serving certificate live in a Secret, so replicas and restarts share them;
 * - the serving certificate is reissued when a third of its life is left, and swapped
 *   into the running server (new connections get it, open ones finish on the old);
 * - the CA is rotated in two steps: a next CA is added to the caBundle first, and only
 *   once this controller has seen the configuration carry it for `propagationMs` (time
 *   for the API server to load it) does it sign serving certs;
 *   the previous CA stays in the bundle until it expires;
 * - the MutatingWebhookConfiguration is put back whenever it differs from what the
 *   controller wants (a reset caBundle, a deleted object).
 * Every write carries the resourceVersion it read, so replicas never overwrite each other.
 *
 * The same certificate serves the scheduler extender, which accepts only client certificates
 * signed by the CAs it is given (`clientCAs`: the current, next and previous CA, or in
 * external mode the caBundle). With `clientSecretName` (controller issuer only) it also keeps
 * the scheduler's client certificate in that Secret (tls.crt, tls.key, and ca.crt: the CAs the
 * scheduler checks the extender with), reissued like the serving certificate.
 *
 * With `issuer: 'external'` cert-manager (or another issuer) writes the Secret in its own
 * format (tls.crt, tls.key, ca.crt) and the controller only reads it: the Secret's ca.crt
 * joins the caBundle at once, and a new serving certificate is swapped in only once the CA
 * that comes with it has sat in the bundle for `propagationMs`. CAs already in the bundle
 * stay there until they expire (at most `MAX_KEPT_CAS`), so replicas that swap at different
 * moments all stay trusted, and every replica computes the same bundle.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdmissionregistrationV1Api, CoreV1Api, V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { ErrorCode, isShimmyError, ShimmyError } from '../errors.js';
import { errorText, isConflict, unlessNotFound } from '../k8s/api-errors.js';
import { certInfo, coversHosts, createCA, issueClientCert, issueServingCert, signedBy } from './certs.js';
import type { KeyPair } from './certs.js';
import { desiredWebhookConfig, webhookConfigDiffers, type WebhookTarget } from './webhook-config.js';

export interface CertManagerOptions {
  core: CoreV1Api;
  admission: AdmissionregistrationV1Api;
  namespace: string;
  secretName: string;
  /** Who writes the Secret: this controller, or cert-manager (the controller only reads it). */
  issuer: 'controller' | 'external';
  /** External issuer: how long the first start waits for the Secret (cert-manager issues it moments after install). */
  issuedWaitMs?: number;
  template: V1MutatingWebhookConfiguration;
  webhookUrl?: string;
  /** Names and IPs the serving certificate is valid for (webhook and extender). */
  hosts: string[];
  /** Controller issuer: the Secret to keep the scheduler's client certificate for the extender in. */
  clientSecretName?: string;
  caValidityMs: number;
  certValidityMs: number;
  /** How long a new CA sits in the caBundle before it signs anything. */
  propagationMs: number;
  checkEveryMs: number;
  metrics: ControllerMetrics;
  log: Logger;
}

/** The Secret's fields; PEM text. */
export interface TlsState {
  'ca.crt'?: string;
  'ca.key'?: string;
  'tls.crt'?: string;
  'tls.key'?: string;
  'next-ca.crt'?: string;
  'next-ca.key'?: string;
  'previous-ca.crt'?: string;
}

/** CAs from earlier bundles kept next to the current one in external mode. */
const MAX_KEPT_CAS = 3;

function splitPems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

function unexpired(pem: string, now: number): boolean {
  try {
    return certInfo(pem).notAfter.getTime() > now;
  } catch {
    return false;
  }
}

function decode(secret: V1Secret): TlsState {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out as TlsState;
}

/** A Secret's `data` for these PEMs (base64; empty entries left out). */
export function encodeTlsSecret(state: TlsState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(state)) if (v) out[k] = Buffer.from(v).toString('base64');
  return out;
}

export class WebhookCertManager {
  private serving: KeyPair | undefined;
  private listeners: ((pair: KeyPair) => void)[] = [];
  private trusted = '';
  private trustListeners: ((clientCAs: string) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Each certificate of the caBundle last seen in the webhook configuration, and since when. */
  private inBundleSince = new Map<string, number>();

  constructor(private readonly opts: CertManagerOptions) {}

  /** Makes or loads the serving certificate, without registering anything yet. */
  async loadCertificate(): Promise<KeyPair> {
    if (this.opts.issuer === 'external') {
      const state = await this.waitForIssuedSecret();
      this.use(state);
      this.trust(state['ca.crt'] ?? '');
    } else {
      const state = await this.ensureSecret();
      this.use(state);
      this.trust(WebhookCertManager.bundlePems(state));
    }
    return this.serving!;
  }

  /** Registers the webhook (call once the server listens) and keeps it all current. */
  async start(): Promise<void> {
    await this.reconcile();
    this.timer = setInterval(() => this.reconcileSoon(), this.opts.checkEveryMs);
  }

  onCertificate(listener: (pair: KeyPair) => void): void {
    this.listeners.push(listener);
  }

  /** The serving certificate in use; set by loadCertificate. */
  currentCertificate(): KeyPair {
    return this.serving!;
  }

  /** The CAs (PEM) whose client certificates the extender accepts; set by loadCertificate. */
  clientCAs(): string {
    return this.trusted;
  }

  onClientCAs(listener: (clientCAs: string) => void): void {
    this.trustListeners.push(listener);
  }

  /** Runs a reconcile soon (e.g. the webhook configuration changed); never two at once. */
  reconcileSoon(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err) => this.opts.log.warn({ err: errorText(err) }, 'webhook TLS reconcile failed; retrying'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.reconcileSoon();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async reconcile(): Promise<void> {
    if (this.opts.issuer === 'external') return this.reconcileIssued();
    const state = await this.ensureSecret();
    this.use(state);
    this.trust(WebhookCertManager.bundlePems(state));
    await this.ensureWebhookConfig(() => WebhookCertManager.bundlePems(state));
    if (this.opts.clientSecretName) await this.ensureClientSecret(state);
  }

  private async reconcileIssued(): Promise<void> {
    const state = await this.readIssuedSecret();
    const ca = state['ca.crt'] ? `${state['ca.crt'].trim()}\n` : undefined;
    const now = Date.now();
    const bundle = await this.ensureWebhookConfig((current) => {
      const kept = splitPems(current)
        .map((pem) => `${pem.trim()}\n`)
        .filter((pem) => pem !== ca && unexpired(pem, now));
      // Newest first, whatever order the replicas read the Secret in, so they never disagree.
      const newest = (pems: string[]) => pems.sort((a, b) => certInfo(b).notBefore.getTime() - certInfo(a).notBefore.getTime() || (a < b ? -1 : 1));
      return newest([...(ca ? [ca] : []), ...newest(kept).slice(0, MAX_KEPT_CAS)]).join('');
    });
    // Trusting a CA early is safe: clients signed by it may call the extender at once.
    this.trust(bundle);
    // Without a ca.crt the API server verifies against its system roots (a public issuer).
    if (!ca || this.trustedFor(ca, this.opts.propagationMs)) this.use(state);
    else if (state['tls.crt'] !== this.serving?.cert) this.opts.log.info('new serving certificate waits until the API server has loaded its CA');
  }

  /** Whether `pem` has been in the registered caBundle for at least `ms`. */
  private trustedFor(pem: string, ms: number): boolean {
    const since = this.inBundleSince.get(pem.trim());
    return since !== undefined && Date.now() - since >= ms;
  }

  private async waitForIssuedSecret(): Promise<TlsState> {
    const deadline = Date.now() + (this.opts.issuedWaitMs ?? 0);
    for (let tries = 0; ; tries++) {
      try {
        return await this.readIssuedSecret();
      } catch (err) {
        if (!isShimmyError(err, ErrorCode.WEBHOOK_TLS) || Date.now() >= deadline) throw err;
        if (tries === 0) this.opts.log.info({ secret: this.opts.secretName }, 'waiting for cert-manager to issue the webhook certificate');
        await sleep(1000);
      }
    }
  }

  /** The Secret cert-manager writes; never written here. */
  private async readIssuedSecret(): Promise<TlsState> {
    const { namespace, secretName } = this.opts;
    const secret = await this.readSecret();
    const state = secret ? decode(secret) : {};
    if (!state['tls.crt'] || !state['tls.key']) {
      throw new ShimmyError(
        ErrorCode.WEBHOOK_TLS,
        `the Secret ${namespace}/${secretName} ${secret ? 'has no tls.crt and tls.key' : 'does not exist'} yet`,
        `The controller only reads it (--tls-issuer=external); check the cert-manager Certificate that writes it: kubectl -n ${namespace} describe certificate`,
      );
    }
    return state;
  }

  private readSecret(): Promise<V1Secret | undefined> {
    return unlessNotFound(this.opts.core.readNamespacedSecret({ name: this.opts.secretName, namespace: this.opts.namespace }));
  }

  private async ensureSecret(): Promise<TlsState> {
    const { core, namespace, secretName, log, metrics } = this.opts;
    const secret = await this.readSecret();
    const state: TlsState = secret ? decode(secret) : {};
    const now = Date.now();
    let changed = false;

    if (!state['ca.crt'] || !state['ca.key']) {
      const ca = createCA('shimmy-webhook-ca', this.opts.caValidityMs);
      Object.assign(state, { 'ca.crt': ca.cert, 'ca.key': ca.key });
      changed = true;
    }
    if (state['previous-ca.crt'] && certInfo(state['previous-ca.crt']).notAfter.getTime() < now) {
      delete state['previous-ca.crt'];
      changed = true;
    }
    const caLeft = certInfo(state['ca.crt']!).notAfter.getTime() - now;
    // Rotate with a third of the life left, or at once when --ca-validity was shortened.
    if (!state['next-ca.crt'] && (caLeft < this.opts.caValidityMs / 3 || caLeft > this.opts.caValidityMs + 60_000)) {
      const next = createCA('shimmy-webhook-ca', this.opts.caValidityMs);
      Object.assign(state, { 'next-ca.crt': next.cert, 'next-ca.key': next.key });
      changed = true;
      log.info('new webhook CA added to the caBundle; it signs once the API server has loaded it');
    } else if (state['next-ca.crt'] && this.trustedFor(state['next-ca.crt'], this.opts.propagationMs)) {
      Object.assign(state, { 'previous-ca.crt': state['ca.crt'], 'ca.crt': state['next-ca.crt'], 'ca.key': state['next-ca.key'] });
      delete state['next-ca.crt'];
      delete state['next-ca.key'];
      changed = true;
      metrics.certRotations.inc({ kind: 'ca' });
      log.info('webhook CA rotated');
    }
    const tls = state['tls.crt'];
    // A name added since (the extender's, after an upgrade) needs a new certificate now.
    if (!this.keeps(tls, state['tls.key'], state['ca.crt']!, now) || !coversHosts(tls!, this.opts.hosts)) {
      const issued = issueServingCert({ cert: state['ca.crt']!, key: state['ca.key']! }, this.opts.hosts, this.opts.certValidityMs);
      Object.assign(state, { 'tls.crt': issued.cert, 'tls.key': issued.key });
      changed = true;
      if (tls) metrics.certRotations.inc({ kind: 'serving' });
      log.info({ notAfter: issued.notAfter.toISOString() }, 'webhook serving certificate issued');
    }
    if (!changed) return state;

    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: secretName,
        namespace,
        labels: { 'app.kubernetes.io/name': 'shimmy', 'app.kubernetes.io/component': 'webhook' },
        ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      data: encodeTlsSecret(state),
    };
    try {
      if (secret) await core.replaceNamespacedSecret({ name: secretName, namespace, body });
      else await core.createNamespacedSecret({ namespace, body });
      return state;
    } catch (err) {
      // Another replica wrote first: use what it wrote.
      if (!isConflict(err)) throw err;
      const current = await this.readSecret();
      if (!current) throw err;
      return decode(current);
    }
  }

  /** The scheduler's client certificate, signed by the current CA, renewed with a third of its life left. */
  private async ensureClientSecret(state: TlsState): Promise<void> {
    const { core, namespace, log, metrics } = this.opts;
    const name = this.opts.clientSecretName!;
    const secret = await unlessNotFound(core.readNamespacedSecret({ name, namespace }));
    const client = secret ? decode(secret) : {};
    const bundle = WebhookCertManager.bundlePems(state);
    const tls = client['tls.crt'];
    const fresh = this.keeps(tls, client['tls.key'], state['ca.crt']!, Date.now());
    if (fresh && client['ca.crt'] === bundle) return;
    const next: TlsState = { 'ca.crt': bundle, 'tls.crt': tls, 'tls.key': client['tls.key'] };
    if (!fresh) {
      const issued = issueClientCert({ cert: state['ca.crt']!, key: state['ca.key']! }, 'shimmy-scheduler', ['shimmy'], this.opts.certValidityMs);
      Object.assign(next, { 'tls.crt': issued.cert, 'tls.key': issued.key });
      if (tls) metrics.certRotations.inc({ kind: 'client' });
      log.info({ secret: name, notAfter: issued.notAfter.toISOString() }, 'extender client certificate issued');
    }
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name,
        namespace,
        labels: { 'app.kubernetes.io/name': 'shimmy', 'app.kubernetes.io/component': 'extender' },
        ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      data: encodeTlsSecret(next),
    };
    try {
      if (secret) await core.replaceNamespacedSecret({ name, namespace, body });
      else await core.createNamespacedSecret({ namespace, body });
    } catch (err) {
      // 409: another replica wrote or created it first; the next check looks at what it wrote.
      if (!isConflict(err)) throw err;
    }
  }

  /**
   * Whether a leaf certificate (serving or client) may stay: it has its key, the current CA
   * signed it, and its lifetime is one this controller gives (a third or more left, no more
   * than all of it: --cert-validity may have been shortened).
   */
  private keeps(pem: string | undefined, key: string | undefined, ca: string, now: number): boolean {
    if (!pem || !key || !signedBy(pem, ca)) return false;
    const left = certInfo(pem).notAfter.getTime() - now;
    return left >= this.opts.certValidityMs / 3 && left <= this.opts.certValidityMs + 60_000;
  }

  private trust(clientCAs: string): void {
    if (clientCAs === this.trusted) return;
    this.trusted = clientCAs;
    for (const l of this.trustListeners) l(clientCAs);
  }

  private use(state: TlsState): void {
    const pair = { cert: state['tls.crt']!, key: state['tls.key']! };
    if (this.serving?.cert === pair.cert) return;
    if (this.serving && this.opts.issuer === 'external') this.opts.metrics.certRotations.inc({ kind: 'serving' });
    this.serving = pair;
    this.opts.metrics.certExpiry.set(certInfo(pair.cert).notAfter.getTime() / 1000);
    for (const l of this.listeners) l(pair);
  }

  private static bundlePems(state: TlsState): string {
    return [state['ca.crt'], state['next-ca.crt'], state['previous-ca.crt']].filter(Boolean).join('');
  }

  /** `bundleFor` gets the PEMs of the caBundle registered now ('' when none); returns the bundle it registered. */
  private async ensureWebhookConfig(bundleFor: (current: string) => string): Promise<string> {
    const { admission, template, namespace, webhookUrl, log } = this.opts;
    const name = desiredWebhookConfig(template, { namespace, caBundle: '' }).metadata!.name!;
    const actual = await unlessNotFound(admission.readMutatingWebhookConfiguration({ name }));
    const registered = actual?.webhooks?.[0]?.clientConfig?.caBundle;
    const pems = bundleFor(registered ? Buffer.from(registered, 'base64').toString('utf8') : '');
    const target: WebhookTarget = { namespace, caBundle: Buffer.from(pems).toString('base64'), ...(webhookUrl ? { url: webhookUrl } : {}) };
    const desired = desiredWebhookConfig(template, target);
    if (!actual) {
      await admission.createMutatingWebhookConfiguration({ body: desired });
      log.info({ name }, 'MutatingWebhookConfiguration created');
    } else if (webhookConfigDiffers(actual, desired)) {
      desired.metadata!.resourceVersion = actual.metadata?.resourceVersion;
      await admission.replaceMutatingWebhookConfiguration({ name, body: desired });
      log.info({ name }, 'MutatingWebhookConfiguration put back');
    }
    const now = Date.now();
    const certs = splitPems(pems).map((pem) => pem.trim());
    for (const pem of certs) if (!this.inBundleSince.has(pem)) this.inBundleSince.set(pem, now);
    for (const pem of this.inBundleSince.keys()) if (!certs.includes(pem)) this.inBundleSince.delete(pem);
    return pems;
  }
}
