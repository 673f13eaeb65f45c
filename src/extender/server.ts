/**
 * The scheduler extender over HTTP: POST /filter and POST /prioritize, answered from the
 * controller's caches only. A malformed ExtenderArgs gets HTTP 400 with { Error }.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { drainable } from '../http/drain.js';
import { httpServerOptions } from '../http/server-factory.js';
import { filterNodes, prioritizeNodes, type PlacementView } from './placement.js';
import { ExtenderArgsError, parseExtenderArgs, type ExtenderFilterResult } from './wire.js';

export interface ExtenderServerOptions {
  /** A request not fully received by then gets 408 (default 10 s). */
  requestTimeoutMs?: number;
  shutdownGraceMs?: number;
  view: PlacementView;
  metrics: ControllerMetrics;
  log: Logger;
  /** Largest request body; Nodes of 5,000 full Node objects fit in the default. */
  bodyLimit?: number;
}

export interface ExtenderServer {
  app: FastifyInstance;
  close(): Promise<void>;
}

export function buildExtenderServer(opts: ExtenderServerOptions): ExtenderServer {
  const app = Fastify({
    loggerInstance: opts.log.child({ server: 'extender' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024 * 1024,
    ...httpServerOptions(opts.requestTimeoutMs),
    return503OnClosing: false,
  });
  const close = drainable(app, opts.shutdownGraceMs);
  const { view, metrics } = opts;

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

  return { app, close };
}
