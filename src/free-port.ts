import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ErrorCode, ShimmyError } from './errors.js';

const handedOut = new Set<number>();

/**
 * A free loopback port for a server that binds it later: a broker the benchmark starts,
 * the dev cluster's controller seconds later. Port 0 would give one from the kernel's
 * ephemeral range, where the next outgoing connection of etcd or the API server may take
 * it first; so the port comes from below that range, at random, checked by binding it,
 * and never twice from one process.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number];
  const low = 10_000;
  const high = Math.max(low + 1000, ephemeralLow - 1);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!handedOut.has(port) && (await canBind(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new ShimmyError(ErrorCode.SYSTEM_LIMIT, `No free port found between ${low} and ${high}`, 'Free some ports, or stop other dev clusters and benchmarks');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
