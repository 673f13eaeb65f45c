/**
 * Messages between the controller's main thread and the extender's worker thread. The main
 * thread owns the watches; the worker keeps its own copy of what the extender reads
 * (channels, injected pods, agent Leases), fed by these messages, and serves HTTPS on its
 * own event loop, so a costly extender call never delays an admission.
 */
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import type { SharedMemoryChannel } from '../k8s/types.js';
import type { ExtenderTls } from './server.js';

export interface ExtenderWorkerData {
  host: string;
  port: number;
  agentNamespace: string;
  tls?: ExtenderTls;
  shutdownGraceMs?: number;
  logLevel: string;
}

export type CacheChange =
  | { kind: 'channel'; op: 'upsert' | 'remove'; object: SharedMemoryChannel }
  | { kind: 'pod'; op: 'upsert' | 'remove'; object: V1Pod }
  | { kind: 'lease'; op: 'upsert' | 'remove'; object: V1Lease };

export type ToWorker = { type: 'changes'; changes: CacheChange[] } | { type: 'tls'; tls: ExtenderTls } | { type: 'metrics'; id: number } | { type: 'close' };

export type FromWorker =
  { type: 'listening'; port: number } | { type: 'failed'; message: string } | { type: 'metrics'; id: number; text: string } | { type: 'closed' };
