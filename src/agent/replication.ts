/**
 * The agent's side of replication between nodes: it runs the replicator on a thread of its own
 * (src/replication/replicator-thread.ts), tells it which channels to replicate with which
 * peers and where they listen, and keeps its latest report. A thread that dies is started
 * again after RESTART_MS with the same configuration, and again after each start that fails.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { ReplicatorConfig, ReplicatorReport } from '../replication/node-replicator.js';
import type { FromReplicator, ReplicationWorkerData, ToReplicator } from '../replication/thread-protocol.js';
import { applyUcxDefaults } from '../replication/ucx.js';

const THREAD_FILE = join(packageRoot, 'dist/src/replication/replicator-thread.js');
const RESTART_MS = 5000;

export interface ReplicationOptions {
  /** The address this node's replicator listens on and peers connect to (the agent pod's IP). */
  address: string;
  port: number;
  tls: string;
  devices: string;
  peerTimeoutMs: number;
  /** The cluster's replication key: frames without a MAC under it are dropped. */
  key: Uint8Array;
  /** Where the pub/sub channels' spools go (ReplicatorOptions.spoolDir). */
  spoolDir?: string;
}

export class ReplicationThread {
  private worker: Worker | undefined;
  private config: ReplicatorConfig = { channels: [], addresses: [] };
  private latest: ReplicatorReport | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Times the thread died and was started again. */
  restarts = 0;

  constructor(
    private readonly opts: ReplicationOptions & { node: string; reportMs: number; logLevel: string },
    private readonly log: Logger,
  ) {}

  /** Starts the thread; resolves once it listens, rejects when UCX cannot start or listen. */
  start(): Promise<void> {
    const data: ReplicationWorkerData = {
      node: this.opts.node,
      ip: this.opts.address,
      port: this.opts.port,
      tls: this.opts.tls,
      devices: this.opts.devices,
      peerTimeoutMs: this.opts.peerTimeoutMs,
      key: this.opts.key,
      ...(this.opts.spoolDir ? { spoolDir: this.opts.spoolDir } : {}),
      reportMs: this.opts.reportMs,
      logLevel: this.opts.logLevel,
    };
    applyUcxDefaults();
    return new Promise((resolve, reject) => {
      const worker = new Worker(THREAD_FILE, { workerData: data });
      this.worker = worker;
      let listening = false;
      worker.on('message', (message: FromReplicator) => {
        if (message.type === 'listening') {
          listening = true;
          this.post({ type: 'configure', config: this.config });
          resolve();
        } else if (message.type === 'report') this.latest = message.report;
      });
      worker.on('error', (err) => {
        if (!listening)
          reject(
            new ShimmyError(ErrorCode.TRANSPORT_FAILED, `replication did not start: ${err.message}`, 'Check --ucx-tls, --ucx-devices and --replication-port'),
          );
        else this.log.error({ err: err.message }, 'replication thread failed');
      });
      worker.on('exit', (code) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        if (this.stopping || !listening) return;
        this.restarts++;
        this.log.error({ code, restartInMs: RESTART_MS }, 'replication thread ended; starting it again');
        this.restartLater();
      });
    });
  }

  /** Starts the thread again after RESTART_MS, and again after each start that fails, until one succeeds or stop(). */
  private restartLater(): void {
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.start().catch((err: Error) => {
        this.log.error({ err: err.message, retryInMs: RESTART_MS }, 'replication thread did not start again; trying again');
        this.restartLater();
      });
    }, RESTART_MS);
  }

  private post(message: ToReplicator): void {
    this.worker?.postMessage(message);
  }

  configure(config: ReplicatorConfig): void {
    if (JSON.stringify(config) === JSON.stringify(this.config)) return;
    this.config = config;
    this.post({ type: 'configure', config });
  }

  report(): ReplicatorReport | undefined {
    return this.latest;
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    const stopped = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.post({ type: 'stop' });
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await stopped;
    clearTimeout(timer);
  }
}
