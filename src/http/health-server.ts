/** /healthz, /readyz and /metrics on a plain HTTP port. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  metrics: { registry: Registry };
  /** Names of what is not ready yet; empty when ready. */
  notReady: () => string[];
  /** More metrics in the text format, appended (another thread's registry). */
  moreMetrics?: () => Promise<string>;
  log: Logger;
}

export function buildHealthServer(opts: HealthServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log.child({ server: 'health' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async (_request, reply) => {
    const waiting = opts.notReady();
    if (waiting.length) return reply.code(503).send(`not ready: ${waiting.join(', ')}\n`);
    return 'ok';
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', opts.metrics.registry.contentType);
    const [own, more] = await Promise.all([opts.metrics.registry.metrics(), opts.moreMetrics?.() ?? '']);
    return more ? `${own.trimEnd()}\n${more}` : own;
  });
  return app;
}
