/**
 * Runs the benchmark matrix: for each transport (its peer started here), size and count,
 * a throughput run (one publisher process, one subscriber process) and a ping-pong latency
 * run, each bounded by a time budget.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/free-port.js';
import { checkPeer, startPeer } from './peers.js';
import { percentile } from '../src/stats.js';
import { createBenchChannels } from './transports/shm.js';
import type { WorkerConfig, WorkerReport } from './worker.js';

export interface BenchOptions {
  transports: string[];
  sizes: number[];
  counts: number[];
  /** Publisher time budget per throughput run. */
  budgetMs: number;
  /** Round trips per latency run (at most). */
  latencySamples: number;
  latencyBudgetMs: number;
}

export interface BenchRow {
  transport: string;
  size: number;
  count: number;
  msgsPerSec: number;
  mbPerSec: number;
  p50Us: number;
  p99Us: number;
  delivered: number;
  /** The publisher stopped at the time budget before `count`. */
  truncated?: boolean;
  skipped?: string;
  error?: string;
  /** Why the latency run failed; p50Us and p99Us are then null. */
  latencyError?: string;
  /** With --repeat: how many runs measured this row, and their spread. */
  runs?: number;
  minMsgsPerSec?: number;
  maxMsgsPerSec?: number;
}

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

function startWorker(cfg: WorkerConfig): { child: ChildProcess; next: (type: WorkerReport['type']) => Promise<WorkerReport> } {
  const child = fork(WORKER, [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: WorkerReport[] = [];
  const waiters: Array<(r: WorkerReport) => void> = [];
  child.on('message', (r: WorkerReport) => {
    const w = waiters.shift();
    if (w) w(r);
    else queue.push(r);
  });
  child.on('exit', (code) => {
    const r: WorkerReport = { type: 'error', message: `${cfg.role} worker exited with code ${code}` };
    while (waiters.length) waiters.shift()!(r);
    queue.push(r);
  });
  const next = (type: WorkerReport['type']) =>
    new Promise<WorkerReport>((resolve, reject) => {
      const take = (r: WorkerReport) =>
        r.type === 'error' ? reject(new Error(r.message)) : r.type === type ? resolve(r) : reject(new Error(`expected ${type}, got ${r.type}`));
      const q = queue.shift();
      if (q) take(q);
      else waiters.push(take);
    });
  return { child, next };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);
}

/**
 * Untimed messages before each throughput run: enough for JIT compilation and connection
 * set-up (up to 100k small messages, about 50 MB of large ones), never more than the run.
 */
export function warmupCount(size: number, count: number): number {
  return Math.min(count, 100_000, Math.max(200, Math.floor(50e6 / size)));
}

/** Fresh loopback ports per run and topic for the plain TCP transport. */
async function withPorts(transport: string, endpoints: Record<string, string>, topics: string[]): Promise<Record<string, string>> {
  if (transport !== 'tcp') return endpoints;
  const out = { ...endpoints };
  for (const t of topics) out[`tcp-${t}`] = String(await freePort());
  return out;
}

async function throughput(transport: string, size: number, count: number, peerEndpoints: Record<string, string>, opts: BenchOptions) {
  const runId = randomBytes(4).toString('hex');
  const endpoints = await withPorts(transport, peerEndpoints, ['data']);
  const cleanup = transport.startsWith('shm') ? createBenchChannels(runId, ['data'], size) : () => {};
  const warmup = warmupCount(size, count);
  const base = { transport, size, count, runId, endpoints, budgetMs: opts.budgetMs, warmup };
  const sub = startWorker({ ...base, role: 'sub' });
  let pub: ReturnType<typeof startWorker> | null = null;
  try {
    await withTimeout(sub.next('ready'), 60_000, 'subscriber start');
    pub = startWorker({ ...base, role: 'pub' });
    await withTimeout(pub.next('warm'), 120_000, 'publisher warm-up');
    await withTimeout(sub.next('warm'), 30_000, `subscriber warm-up (${warmup} messages; were some lost?)`);
    pub.child.send({ go: true });
    const p = (await withTimeout(pub.next('pub-done'), opts.budgetMs + 120_000, 'publisher')) as Extract<WorkerReport, { type: 'pub-done' }>;
    sub.child.send({ expect: p.sent });
    const stopTimer = setTimeout(() => sub.child.connected && sub.child.send({ stop: true }), Math.max(5000, opts.budgetMs)).unref();
    const s = (await withTimeout(sub.next('sub-done'), opts.budgetMs + 120_000, 'subscriber')) as Extract<WorkerReport, { type: 'sub-done' }>;
    clearTimeout(stopTimer);
    const seconds = Math.max(1e-9, (s.lastAt - p.startedAt) / 1000);
    return { msgsPerSec: s.received / seconds, mbPerSec: s.bytes / seconds / 1e6, delivered: s.received, truncated: p.sent < count };
  } finally {
    sub.child.kill('SIGKILL');
    pub?.child.kill('SIGKILL');
    cleanup();
  }
}

async function latency(transport: string, size: number, samples: number, peerEndpoints: Record<string, string>, opts: BenchOptions) {
  const runId = randomBytes(4).toString('hex');
  const endpoints = await withPorts(transport, peerEndpoints, ['ping', 'pong']);
  const cleanup = transport.startsWith('shm') ? createBenchChannels(runId, ['ping', 'pong'], size) : () => {};
  const base = { transport, size, count: samples, runId, endpoints, budgetMs: opts.latencyBudgetMs, warmup: 0 };
  const pong = startWorker({ ...base, role: 'pong' });
  let ping: ReturnType<typeof startWorker> | null = null;
  try {
    await withTimeout(pong.next('ready'), 60_000, 'ponger start');
    ping = startWorker({ ...base, role: 'ping' });
    const r = (await withTimeout(ping.next('ping-done'), opts.latencyBudgetMs + 120_000, 'pinger')) as Extract<WorkerReport, { type: 'ping-done' }>;
    const sorted = r.oneWayUs.sort((a, b) => a - b);
    return { p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99) };
  } finally {
    if (pong.child.connected) pong.child.send({ stop: true });
    setTimeout(() => pong.child.kill('SIGKILL'), 500).unref();
    ping?.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    cleanup();
  }
}

export async function runBench(opts: BenchOptions, progress: (line: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const emit = (row: BenchRow) => rows.push(row);
  const total = opts.transports.length * opts.sizes.length * opts.counts.length;
  let done = 0;
  for (const transport of opts.transports) {
    const check = checkPeer(transport);
    if (!check.ok) {
      progress(`${transport}: skipped: ${check.reason}`);
      for (const size of opts.sizes)
        for (const count of opts.counts)
          emit({ transport, size, count, msgsPerSec: 0, mbPerSec: 0, p50Us: NaN, p99Us: NaN, delivered: 0, skipped: check.reason });
      done += opts.sizes.length * opts.counts.length;
      continue;
    }
    progress(`${transport}: starting peer`);
    let peer;
    try {
      peer = await startPeer(transport);
    } catch (err) {
      const reason = `peer failed to start: ${(err as Error).message}`;
      progress(`${transport}: ${reason}`);
      for (const size of opts.sizes)
        for (const count of opts.counts) emit({ transport, size, count, msgsPerSec: 0, mbPerSec: 0, p50Us: NaN, p99Us: NaN, delivered: 0, error: reason });
      continue;
    }
    try {
      for (const size of opts.sizes) {
        let lat: { p50Us: number; p99Us: number } = { p50Us: NaN, p99Us: NaN };
        let latencyError: string | undefined;
        try {
          lat = await latency(transport, size, opts.latencySamples, peer.endpoints, opts);
        } catch (err) {
          latencyError = (err as Error).message.split('\n')[0]!;
          progress(`${transport} ${size} B latency failed: ${latencyError}`);
        }
        for (const count of opts.counts) {
          done++;
          try {
            const t = await throughput(transport, size, count, peer.endpoints, opts);
            const row: BenchRow = {
              transport,
              size,
              count,
              msgsPerSec: Math.round(t.msgsPerSec),
              mbPerSec: Number(t.mbPerSec.toFixed(1)),
              p50Us: Number(lat.p50Us.toFixed(2)),
              p99Us: Number(lat.p99Us.toFixed(2)),
              delivered: t.delivered,
              ...(t.truncated ? { truncated: true } : {}),
              ...(latencyError ? { latencyError } : {}),
            };
            emit(row);
            progress(
              `[${done}/${total}] ${transport} ${size} B x ${count}: ${row.msgsPerSec.toLocaleString('en-US')} msg/s, ${row.mbPerSec} MB/s, p50 ${row.p50Us} us, p99 ${row.p99Us} us, delivered ${row.delivered}${row.truncated ? ' (time budget reached)' : ''}`,
            );
          } catch (err) {
            const message = (err as Error).message.split('\n')[0]!;
            emit({ transport, size, count, msgsPerSec: 0, mbPerSec: 0, p50Us: lat.p50Us, p99Us: lat.p99Us, delivered: 0, error: message });
            progress(`[${done}/${total}] ${transport} ${size} B x ${count}: failed: ${message}`);
          }
        }
      }
    } finally {
      await peer.stop();
    }
  }
  return rows;
}
