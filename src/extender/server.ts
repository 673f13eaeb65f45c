/**
 * The scheduler extender: POST /filter and POST /prioritize, answered from the controller's
 * caches only. A malformed ExtenderArgs gets HTTP 400 with { Error }.
 *
 * Over HTTPS with client certificates (mutual TLS): a caller without a certificate signed by
 * one of `tls.clientCAs` is refused in the handshake, before any request is read, and
 * counted in shimmy_extender_tls_refused_total. The serving certificate and the trusted CAs
 * can be swapped while requests are in flight, as the webhook's (webhook/server.ts). Plain
 * HTTP only when `tls` is left out (`--extender-insecure-http`).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { ExtenderMetrics } from '../metrics/extender-metrics.js';
import type { KeyPair } from '../webhook/certs.js';
import { drainable } from '../http/drain.js';
import { httpServerOptions, httpsServerOptions } from '../http/server-factory.js';
import { closeConnectionsOnSwap } from '../http/tls-generations.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { filterNodes, prioritizeNodes, type PlacementView } from './placement.js';
import { ExtenderArgsError, parseExtenderArgs, type ExtenderFilterResult } from './wire.js';

export interface ExtenderServerOptions {
  /** A request not fully received by then gets 408 (default 10 s). */
  requestTimeoutMs?: number;
  shutdownGraceMs?: number;
  view: PlacementView;
  metrics: ExtenderMetrics;
  log: Logger;
  /** Largest request body; Nodes of 5,000 full Node objects fit in the default. */
  bodyLimit?: number;
  /** The serving certificate and the CAs (PEM) whose client certificates are accepted; none: plain HTTP. */
  tls?: ExtenderTls;
}

export interface ExtenderTls extends KeyPair {
  clientCAs: string;
}

export interface ExtenderServer {
  app: FastifyInstance;
  close(): Promise<void>;
  /** Swaps the serving certificate and the trusted client CAs in (HTTPS only). */
  useTls(tls: ExtenderTls): void;
}

/** Node trusts its bundled public roots when `ca` is empty: the extender must never do that. */
function checkClientCAs(tls: ExtenderTls): void {
  if (!tls.clientCAs.includes('-----BEGIN CERTIFICATE-----'))
    throw new ShimmyError(
      ErrorCode.WEBHOOK_TLS,
      'the extender has no CA to check client certificates against (the TLS Secret has no ca.crt)',
      'Give the TLS Secret a ca.crt (cert-manager writes one for a CA issuer), or run with --extender-insecure-http',
    );
}

export function buildExtenderServer(opts: ExtenderServerOptions): ExtenderServer {
  if (opts.tls) checkClientCAs(opts.tls);
  const log = opts.log.child({ server: 'extender' });
  // Typed as the plain server: the routes are the same either way, and the factory decides what is served.
  const serverOptions = (opts.tls ? httpsServerOptions(opts.tls, opts.requestTimeoutMs) : httpServerOptions(opts.requestTimeoutMs)) as ReturnType<
    typeof httpServerOptions
  >;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024,
    ...serverOptions,
    return503OnClosing: false,
  });
  const close = drainable(app, opts.shutdownGraceMs);
  const { view, metrics } = opts;
  let current = opts.tls;
  const swapped = current ? closeConnectionsOnSwap(app) : () => {};
  if (current)
    (app.server as unknown as HttpsServer).on('tlsClientError', (err: Error & { code?: string }) => {
      metrics.extenderRefused.inc();
      log.debug({ err: err.code ?? err.message }, 'extender TLS handshake refused');
    });

  app.setErrorHandler((error, request, reply) => {
    const err = error as Error & { statusCode?: number; code?: string };
    const verb = request.url.replace(/^\//, '') || 'unknown';
    metrics.extenderErrors.inc({ verb });
    const status = err instanceof ExtenderArgsError ? 400 : (err.statusCode ?? 500);
    if (status >= 500) request.log.error({ err }, 'extender call failed');
    void reply.code(status).send({ Error: `shimmy extender: ${err.message}` });
  });

  app.post('/filter', async (request) => {
    const end = metrics.extenderSeconds.startTimer({ verb: 'filter' });
    const args = parseExtenderArgs(request.body);
    const { passed, failed } = filterNodes(view, args.pod, args.names);
    const result: ExtenderFilterResult = { FailedNodes: {}, FailedAndUnresolvableNodes: failed, Error: '' };
    if (args.nodes) result.Nodes = { items: passed.map((n) => args.nodes!.get(n)!) };
    else result.NodeNames = passed;
    end();
    return result;
  });

  app.post('/prioritize', async (request) => {
    const end = metrics.extenderSeconds.startTimer({ verb: 'prioritize' });
    const args = parseExtenderArgs(request.body);
    const scores = prioritizeNodes(view, args.pod, args.names);
    end();
    return scores;
  });

  return {
    app,
    close,
    useTls(tls) {
      if (!current) throw new Error('the extender serves plain HTTP (--extender-insecure-http); it has no TLS to swap');
      if (tls.cert === current.cert && tls.key === current.key && tls.clientCAs === current.clientCAs) return;
      try {
        checkClientCAs(tls);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'kept the extender TLS as it was');
        return;
      }
      (app.server as unknown as HttpsServer).setSecureContext({ key: tls.key, cert: tls.cert, ca: tls.clientCAs });
      current = tls;
      swapped();
    },
  };
}
