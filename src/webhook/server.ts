/**
 * The mutating admission webhook over HTTPS: POST /mutate. The serving certificate can
 * be swapped while requests are in flight (`useCertificate`): new connections get the
 * new one. A kept-alive connection made under an older certificate gets
 * "Connection: close" on its next response, so the API server reconnects and checks the
 * new certificate at once. (Closing idle connections from the server side instead races
 * with a request being sent, and Go does not retry a POST that met a reset.)
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { drainable } from '../http/drain.js';
import { httpsServerOptions } from '../http/server-factory.js';
import { closeConnectionsOnSwap } from '../http/tls-generations.js';
import type { KeyPair } from './certs.js';
import { AdmissionError, parseReview, review, type AdmissionContext } from './admission.js';

/** kube-apiserver refuses objects over 3 MiB; anything larger is not a real review. */
export const MAX_REVIEW_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  /** A request not fully received by then gets 408 (default 10 s). */
  requestTimeoutMs?: number;
  shutdownGraceMs?: number;
  context: AdmissionContext;
  tls: KeyPair;
  metrics: ControllerMetrics;
  log: Logger;
}

export interface WebhookServer {
  app: FastifyInstance;
  /** Stops accepting, lets clients finish, then closes (see http/drain.ts). */
  close(): Promise<void>;
  useCertificate(tls: KeyPair): void;
}

export function buildWebhookServer(opts: WebhookServerOptions): WebhookServer {
  const app = Fastify({
    ...httpsServerOptions(opts.tls, opts.requestTimeoutMs),
    loggerInstance: opts.log.child({ server: 'webhook' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_REVIEW_BYTES,
    // Requests arriving while closing are answered normally, with Connection: close.
    return503OnClosing: false,
  });
  const { metrics } = opts;
  const close = drainable(app, opts.shutdownGraceMs);
  const swapped = closeConnectionsOnSwap(app);

  app.setErrorHandler((error, request, reply) => {
    const err = error as Error & { statusCode?: number; code?: string };
    metrics.admissions.inc({ result: 'bad_request' });
    const status = err instanceof AdmissionError ? 400 : (err.statusCode ?? 500);
    const hint = status === 413 ? ` (limit ${MAX_REVIEW_BYTES} bytes)` : '';
    if (status >= 500) request.log.error({ err }, 'admission failed');
    else request.log.warn({ err: err.message }, 'bad admission request');
    void reply.code(status).send({ error: `shimmy webhook: ${err.message}${hint}`, code: err.code });
  });

  app.post('/mutate', async (request) => {
    const end = metrics.admissionSeconds.startTimer();
    const req = parseReview(request.body);
    const out = review(req, opts.context);
    metrics.admissions.inc({ result: out.response.patch ? 'patched' : 'unchanged' });
    end();
    return out;
  });

  return {
    app,
    close,
    useCertificate(tls) {
      (app.server as HttpsServer).setSecureContext({ key: tls.key, cert: tls.cert });
      swapped();
    },
  };
}
