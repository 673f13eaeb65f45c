/**
 * Graceful close for a fastify server whose clients keep connections alive (the API
 * server, kube-scheduler): once closing, every response carries "Connection: close", so
 * each client finishes its request normally and reconnects elsewhere; whatever is still
 * open after `graceMs` is cut.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';

export function drainable(app: FastifyInstance, graceMs = 5000): () => Promise<void> {
  let closing = false;
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  return async () => {
    closing = true;
    const server = app.server as Server;
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.closeIdleConnections();
    try {
      await app.close();
    } finally {
      clearTimeout(timer);
    }
  };
}
