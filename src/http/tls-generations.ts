/**
 * Certificate swaps for a fastify HTTPS server: a connection made under an older
 * certificate (or set of trusted client CAs) is closed after its next answer, so keep-alive
 * clients reconnect and meet the new one.
 */
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { Server as HttpsServer } from 'node:https';

/** Sets up the tracking; returns what to call once the new secure context is in place. */
export function closeConnectionsOnSwap<S extends RawServerBase>(app: FastifyInstance<S>): () => void {
  let generation = 0;
  const generationOf = new WeakMap<object, number>();
  (app.server as unknown as HttpsServer).on('secureConnection', (socket) => generationOf.set(socket, generation));
  app.addHook('onRequest', async (request, reply) => {
    if (generationOf.get(request.raw.socket) !== generation) void reply.header('connection', 'close');
  });
  return () => {
    generation++;
  };
}
