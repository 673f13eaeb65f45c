import type { Transport } from './transport.js';
import { shmTransport } from './shm.js';
import { socketTransport } from './socket.js';
import { kafkaTransport, mosquittoTransport, natsTransport, redisTransport } from './brokers.js';

export const TRANSPORTS: Record<string, Transport> = {
  shm: shmTransport('shm', 'busy-spin'),
  'shm-sleep': shmTransport('shm-sleep', 'sleep'),
  tcp: socketTransport('tcp'),
  uds: socketTransport('uds'),
  mosquitto: mosquittoTransport,
  nats: natsTransport,
  kafka: kafkaTransport,
  redis: redisTransport,
};

export const TRANSPORT_NAMES = Object.keys(TRANSPORTS);
