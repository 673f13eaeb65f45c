/**
 * Node servers for fastify with a request deadline that is enforced promptly: a client
 * that stops sending half-way through a request gets 408 after `requestTimeoutMs`
 * (Node checks deadlines every `connectionsCheckingInterval`, 30 s unless set here), and so
 * does one that connects and sends nothing. A TLS client gets as long to finish its handshake
 * (Node's default is 120 s). Each server holds at most MAX_CONNECTIONS connections; more are
 * refused, not queued.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The API server and a scheduler keep a few connections each; this bounds a flood. */
export const MAX_CONNECTIONS = 512;
/**
 * How long an idle kept-alive connection stays open: longer than Go's clients keep one
 * (http.Transport's IdleConnTimeout, 90 s, in the API server and the scheduler), so they close
 * it first. Node's 5 s closed it under them: a request sent as it closed met a broken pipe, and
 * Go does not send a POST again (an admission failed so on the real nodes).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function capped<T extends Server>(server: T): T {
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}

const deadlines = (requestTimeoutMs: number) => ({ requestTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, requestTimeoutMs / 2) });

/** Fastify options: its `requestTimeout` too, which it would otherwise reset to none. */
export function httpServerOptions(requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
  return {
    requestTimeout: requestTimeoutMs,
    serverFactory: (handler: Handler) => capped(createHttpServer(deadlines(requestTimeoutMs), handler)),
  };
}

/**
 * With `clientCAs`, a client must present a certificate signed by one of those CAs (PEM,
 * concatenated); without one the handshake fails and no request is read.
 */
export function httpsServerOptions(tls: { key: string; cert: string; clientCAs?: string }, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
  const context = { key: tls.key, cert: tls.cert, ...(tls.clientCAs !== undefined ? { ca: tls.clientCAs, requestCert: true, rejectUnauthorized: true } : {}) };
  return {
    https: context,
    requestTimeout: requestTimeoutMs,
    serverFactory: (handler: Handler) => capped(createHttpsServer({ ...context, handshakeTimeout: requestTimeoutMs, ...deadlines(requestTimeoutMs) }, handler)),
  };
}
