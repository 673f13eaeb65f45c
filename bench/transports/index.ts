import type { Transport } from './transport.js';
import { shmTransport } from './shm.js';
import { socketTransport } from './socket.js';
import { bareRingTransport } from './bare-ring.js';
import { kafkaTransport, mosquittoTransport, natsTransport, redisTransport } from './brokers.js';

export const TRANSPORTS: Record<string, Transport> = {
  shm: { ...shmTransport('shm', 'busy-spin'), idle: 'busy-spin' },
  'shm-single': { ...shmTransport('shm-single', 'busy-spin', { single: true }), idle: 'busy-spin' },
  'shm-sleep': { ...shmTransport('shm-sleep', 'sleep'), idle: 'futex sleep' },
  'bare-ring': bareRingTransport(),
  tcp: socketTransport('tcp'),
  uds: socketTransport('uds'),
  mosquitto: mosquittoTransport,
  nats: natsTransport,
  kafka: kafkaTransport,
  redis: redisTransport,
};

export const TRANSPORT_NAMES = Object.keys(TRANSPORTS);

/** How a transport's receiver waits for the next message, in words. */
export function idleStrategy(name: string): string {
  return TRANSPORTS[name]?.idle ?? 'event loop (epoll)';
}
