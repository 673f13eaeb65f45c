/**
 * The extender on a worker thread of its own (worker-main.ts): the main thread forwards each
 * change of its caches, swaps TLS in, and asks for the worker's metrics. A worker that dies
 * is started again with a snapshot of the caches; until it listens, `listening` is false.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { ExtenderTls } from './server.js';
import type { CacheChange, ExtenderWorkerData, FromWorker, ToWorker } from './worker-protocol.js';

/** The compiled worker: vitest runs src/ as TypeScript, which a Worker cannot load, so both use dist/. */
const WORKER_FILE = join(packageRoot, 'dist/src/extender/worker-main.js');
const RESTART_DELAY_MS = 1000;

export interface ExtenderWorkerOptions extends Omit<ExtenderWorkerData, 'tls'> {
  tls?: ExtenderTls;
  /** Everything the caches hold now: sent to a (re)started worker before anything else. */
  snapshot: () => CacheChange[];
  log: Logger;
}

export class ExtenderWorker {
  private worker: Worker | null = null;
  private tls: ExtenderTls | undefined;
  private closing = false;
  private pending: CacheChange[] = [];
  private flushQueued = false;
  private nextId = 0;
  private readonly metricRequests = new Map<number, (text: string) => void>();
  listening = false;
  port = 0;

  constructor(private readonly opts: ExtenderWorkerOptions) {
    this.tls = opts.tls;
  }

  /** Starts the worker; resolves once it listens, rejects when it cannot. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const { snapshot: _snapshot, log: _log, ...data } = this.opts;
      const workerData: ExtenderWorkerData = { ...data, ...(this.tls ? { tls: this.tls } : {}), ...(this.port ? { port: this.port } : {}) };
      const worker = new Worker(WORKER_FILE, { workerData });
      this.worker = worker;
      this.post({ type: 'changes', changes: this.opts.snapshot() });
      let started = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'listening') {
          started = true;
          this.listening = true;
          this.port = message.port;
          resolve();
        } else if (message.type === 'failed') {
          reject(new ShimmyError(ErrorCode.WEBHOOK_TLS, `the extender could not listen: ${message.message}`, 'Check --extender-port and the TLS Secret'));
        } else if (message.type === 'metrics') {
          this.metricRequests.get(message.id)?.(message.text);
          this.metricRequests.delete(message.id);
        }
      });
      worker.on('error', (err) => this.opts.log.error({ err: err.message }, 'extender worker failed'));
      worker.on('exit', (code) => {
        this.listening = false;
        this.worker = null;
        for (const answer of this.metricRequests.values()) answer('');
        this.metricRequests.clear();
        if (!started) reject(new ShimmyError(ErrorCode.WEBHOOK_TLS, `the extender worker exited with code ${code} before listening`, 'See the log above'));
        else if (!this.closing) {
          this.opts.log.error({ code }, 'extender worker exited; starting it again');
          setTimeout(
            () => void this.start().catch((err: Error) => this.opts.log.error({ err: err.message }, 'extender worker did not start again')),
            RESTART_DELAY_MS,
          ).unref();
        }
      });
    });
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  /** Forwards a cache change; changes made in one turn of the event loop go as one message. */
  change(change: CacheChange): void {
    this.pending.push(change);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const changes = this.pending;
      this.pending = [];
      this.post({ type: 'changes', changes });
    });
  }

  useTls(tls: ExtenderTls): void {
    this.tls = tls;
    this.post({ type: 'tls', tls });
  }

  /** The worker's metrics in the Prometheus text format ('' while it is down). */
  metrics(): Promise<string> {
    if (!this.worker) return Promise.resolve('');
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.metricRequests.set(id, resolve);
      this.post({ type: 'metrics', id });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'closed') void worker.terminate();
      });
      this.post({ type: 'close' });
    });
  }
}
