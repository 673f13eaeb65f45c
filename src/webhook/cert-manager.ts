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
 */
import type { AdmissionregistrationV1Api, CoreV1Api, V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { errorText, isConflict, unlessNotFound } from '../k8s/api-errors.js';
import { certInfo, createCA, issueServingCert, signedBy } from './certs.js';
import type { KeyPair } from './certs.js';
import { desiredWebhookConfig, webhookConfigDiffers, type WebhookTarget } from './webhook-config.js';

export interface CertManagerOptions {
  core: CoreV1Api;
  admission: AdmissionregistrationV1Api;
  namespace: string;
  secretName: string;
  template: V1MutatingWebhookConfiguration;
  webhookUrl?: string;
  /** Names and IPs the serving certificate is valid for. */
  hosts: string[];
  caValidityMs: number;
  certValidityMs: number;
  /** How long a new CA sits in the caBundle before it signs anything. */
  propagationMs: number;
  checkEveryMs: number;
  metrics: ControllerMetrics;
  log: Logger;
}

/** The Secret's fields; PEM text. */
interface TlsState {
  'ca.crt'?: string;
  'ca.key'?: string;
  'tls.crt'?: string;
  'tls.key'?: string;
  'next-ca.crt'?: string;
  'next-ca.key'?: string;
  'previous-ca.crt'?: string;
}

function decode(secret: V1Secret): TlsState {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out as TlsState;
}

function encode(state: TlsState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(state)) if (v) out[k] = Buffer.from(v).toString('base64');
  return out;
}

export class WebhookCertManager {
  private serving: KeyPair | undefined;
  private listeners: ((pair: KeyPair) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** The caBundle last seen in the webhook configuration, and since when. */
  private bundleSeen: { pems: string; since: number } | undefined;

  constructor(private readonly opts: CertManagerOptions) {}

  /** Makes or loads the serving certificate, without registering anything yet. */
  async loadCertificate(): Promise<KeyPair> {
    this.use(await this.ensureSecret());
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
    const state = await this.ensureSecret();
    this.use(state);
    await this.ensureWebhookConfig(state);
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
    } else if (state['next-ca.crt'] && this.bundleSeen?.pems.includes(state['next-ca.crt']) && now - this.bundleSeen.since >= this.opts.propagationMs) {
      Object.assign(state, { 'previous-ca.crt': state['ca.crt'], 'ca.crt': state['next-ca.crt'], 'ca.key': state['next-ca.key'] });
      delete state['next-ca.crt'];
      delete state['next-ca.key'];
      changed = true;
      metrics.certRotations.inc({ kind: 'ca' });
      log.info('webhook CA rotated');
    }
    const tls = state['tls.crt'];
    const tlsLeft = tls ? certInfo(tls).notAfter.getTime() - now : 0;
    if (
      !tls ||
      !state['tls.key'] ||
      !signedBy(tls, state['ca.crt']!) ||
      tlsLeft < this.opts.certValidityMs / 3 ||
      tlsLeft > this.opts.certValidityMs + 60_000
    ) {
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
      data: encode(state),
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

  private use(state: TlsState): void {
    const pair = { cert: state['tls.crt']!, key: state['tls.key']! };
    if (this.serving?.cert === pair.cert) return;
    this.serving = pair;
    this.opts.metrics.certExpiry.set(certInfo(pair.cert).notAfter.getTime() / 1000);
    for (const l of this.listeners) l(pair);
  }

  private static bundlePems(state: TlsState): string {
    return [state['ca.crt'], state['next-ca.crt'], state['previous-ca.crt']].filter(Boolean).join('');
  }

  private async ensureWebhookConfig(state: TlsState): Promise<void> {
    const { admission, template, namespace, webhookUrl, log } = this.opts;
    const pems = WebhookCertManager.bundlePems(state);
    const target: WebhookTarget = { namespace, caBundle: Buffer.from(pems).toString('base64'), ...(webhookUrl ? { url: webhookUrl } : {}) };
    const desired = desiredWebhookConfig(template, target);
    const name = desired.metadata!.name!;
    const actual = await unlessNotFound(admission.readMutatingWebhookConfiguration({ name }));
    if (!actual) {
      await admission.createMutatingWebhookConfiguration({ body: desired });
      log.info({ name }, 'MutatingWebhookConfiguration created');
    } else if (webhookConfigDiffers(actual, desired)) {
      desired.metadata!.resourceVersion = actual.metadata?.resourceVersion;
      await admission.replaceMutatingWebhookConfiguration({ name, body: desired });
      log.info({ name }, 'MutatingWebhookConfiguration put back');
    }
    if (this.bundleSeen?.pems !== pems) this.bundleSeen = { pems, since: Date.now() };
  }
}
