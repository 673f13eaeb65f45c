/** Messages between the agent and its replication thread (replicator-thread.ts). */
import type { ReplicatorConfig, ReplicatorReport } from './node-replicator.js';

export interface ReplicationWorkerData {
  node: string;
  /** The address the replicator listens on (the agent pod's IP) and its port. */
  ip: string;
  port: number;
  /** UCX transports and devices (UCX_TLS and UCX_NET_DEVICES syntax); empty: UCX chooses. */
  tls: string;
  devices: string;
  peerTimeoutMs: number;
  /** The cluster's replication key (replication-key.ts). */
  key: Uint8Array;
  /** ReplicatorOptions.spoolDir. */
  spoolDir?: string;
  reportMs: number;
  logLevel: string;
}

export type ToReplicator = { type: 'configure'; config: ReplicatorConfig } | { type: 'stop' };

export type FromReplicator = { type: 'listening'; port: number } | { type: 'report'; report: ReplicatorReport } | { type: 'stopped' };
