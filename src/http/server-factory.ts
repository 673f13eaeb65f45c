/**
 * Node servers for fastify with a request deadline that is enforced promptly: a client
 * that stops sending half-way through a request gets 408 after `requestTimeoutMs`
 * (Node checks deadlines every `connectionsCheckingInterval`, 30 s unless set here).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const deadlines = (requestTimeoutMs: number) => ({ requestTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, requestTimeoutMs / 2) });

/** Fastify options: its `requestTimeout` too, which it would otherwise reset to none. */
export function httpServerOptions(requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
  return { requestTimeout: requestTimeoutMs, serverFactory: (handler: Handler) => createHttpServer(deadlines(requestTimeoutMs), handler) };
}

export function httpsServerOptions(tls: { key: string; cert: string }, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
  return {
    https: { key: tls.key, cert: tls.cert },
    requestTimeout: requestTimeoutMs,
    serverFactory: (handler: Handler) => createHttpsServer({ key: tls.key, cert: tls.cert, ...deadlines(requestTimeoutMs) }, handler),
  };
}
