/**
 * Runs the benchmark matrix: for each transport (its peer started here), size and count,
 * a throughput run (one publisher process, one subscriber process) and a ping-pong latency
 * run, each bounded by a time budget.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/free-port.js';
import { checkPeer, LOCAL_HOST, ROOT, startPeer, type PeerHost } from './peers.js';
import { EXTERNAL_PEERS } from './external/index.js';
import type { ExternalPeer } from './external/external.js';
import { createBareRings } from './transports/bare-ring.js';
import { createBenchChannels } from './transports/shm.js';
import { idleStrategy, TRANSPORT_NAMES } from './transports/index.js';
import { repeatedChecksum } from './transports/transport.js';
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
  /** p99.9 of the one-way latency samples. */
  p999Us: number;
  /** How the transport's receiver waits for messages ("busy-spin", "futex sleep", "event loop (epoll)", ...). */
  idle: string;
  delivered: number;
  /** The publisher stopped at the time budget before `count`. */
  truncated?: boolean;
  skipped?: string;
  error?: string;
  /** Why the latency run failed; p50Us, p99Us and p999Us are then null. */
  latencyError?: string;
  /** With --repeat: how many runs measured this row, and their spread. */
  runs?: number;
  minMsgsPerSec?: number;
  maxMsgsPerSec?: number;
}

/**
 * Where a run's processes go: on this host (the default), or across two hosts
 * (bench/remote/placement.ts: brokers and publishers on one, subscribers on the other).
 */
export interface Placement {
  /** Where the brokers run. */
  peerHost: PeerHost;
  /** Starts a worker process (with its IPC channel) for `cfg.role`. */
  spawnWorker(cfg: WorkerConfig): ChildProcess;
  /** The shared-memory rings a run's topics need, and whatever carries them; resolves to their cleanup. */
  prepare(transport: string, runId: string, topics: string[], size: number): Promise<{ endpoints: Record<string, string>; cleanup: () => Promise<void> }>;
  /** Why a transport cannot run here, or null. */
  unsupported(transport: string): string | null;
}

export const LOCAL_PLACEMENT: Placement = {
  peerHost: LOCAL_HOST,
  spawnWorker: (cfg) => fork(workerPath(), [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  async prepare(transport, runId, topics, size) {
    const cleanup = prepareSegments(transport, runId, topics, size);
    return { endpoints: {}, cleanup: async () => cleanup() };
  },
  unsupported: () => null,
};

/** Every name --transports takes: the Node transports, then the external peers. */
export function benchTransportNames(): string[] {
  return [...TRANSPORT_NAMES, ...Object.keys(EXTERNAL_PEERS).filter((n) => !TRANSPORT_NAMES.includes(n))];
}

/** The compiled worker beside this module, or dist's when this runs from source (vitest). */
export function workerPath(): string {
  const beside = fileURLToPath(new URL('./worker.js', import.meta.url));
  return existsSync(beside) ? beside : join(ROOT, 'dist/bench/worker.js');
}

function startWorker(placement: Placement, cfg: WorkerConfig): { child: ChildProcess; next: (type: WorkerReport['type']) => Promise<WorkerReport> } {
  const child = placement.spawnWorker(cfg);
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

/** The shared-memory rings a run's topics need (removed by the returned function), if any. */
function prepareSegments(transport: string, runId: string, topics: string[], size: number): () => void {
  if (transport.startsWith('shm')) return createBenchChannels(runId, topics, size);
  if (transport === 'bare-ring') return createBareRings(runId, topics, size);
  return () => {};
}

/**
 * The subscriber's checksum against what the publisher sent: every delivered message is the
 * publisher's one message, so the sum is its checksum times the delivered count (mod 2^32).
 */
export function checksumError(delivered: number, received: number, msgChecksum: number, bytes: number, size: number): string | null {
  const want = repeatedChecksum(msgChecksum, delivered);
  if (received === want && bytes === delivered * size) return null;
  const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
  return `checksum mismatch: ${delivered} messages (${bytes} bytes) summed to ${hex(received)}, expected ${hex(want)} (${delivered} x ${hex(msgChecksum)}, ${delivered * size} bytes)`;
}

/** p50, p99 and p99.9 (nearest rank) of one-way latency samples, sorted in place. */
export function latencyStats(oneWayUs: number[]): { p50Us: number; p99Us: number; p999Us: number } {
  const sorted = oneWayUs.sort((a, b) => a - b);
  // Per mille in integers: 0.999 * 2000 is 1998.0000000000002 in floating point, one rank too far.
  const rank = (perMille: number) => (sorted.length ? sorted[Math.max(0, Math.ceil((sorted.length * perMille) / 1000) - 1)]! : NaN);
  return { p50Us: rank(500), p99Us: rank(990), p999Us: rank(999) };
}

/** Fresh loopback ports per run and topic for the plain TCP transport. */
async function withPorts(transport: string, endpoints: Record<string, string>, topics: string[]): Promise<Record<string, string>> {
  if (transport !== 'tcp') return endpoints;
  const out = { ...endpoints };
  for (const t of topics) out[`tcp-${t}`] = String(await freePort());
  return out;
}

async function throughput(placement: Placement, transport: string, size: number, count: number, peerEndpoints: Record<string, string>, opts: BenchOptions) {
  const runId = randomBytes(4).toString('hex');
  const prepared = await placement.prepare(transport, runId, ['data'], size);
  const endpoints = await withPorts(transport, { ...peerEndpoints, ...prepared.endpoints }, ['data']);
  const cleanup = prepared.cleanup;
  const warmup = warmupCount(size, count);
  const base = { transport, size, count, runId, endpoints, budgetMs: opts.budgetMs, warmup };
  const sub = startWorker(placement, { ...base, role: 'sub' });
  let pub: ReturnType<typeof startWorker> | null = null;
  try {
    await withTimeout(sub.next('ready'), 60_000, 'subscriber start');
    pub = startWorker(placement, { ...base, role: 'pub' });
    await withTimeout(pub.next('warm'), 120_000, 'publisher warm-up');
    await withTimeout(sub.next('warm'), 30_000, `subscriber warm-up (${warmup} messages; were some lost?)`);
    pub.child.send({ go: true });
    const p = (await withTimeout(pub.next('pub-done'), opts.budgetMs + 120_000, 'publisher')) as Extract<WorkerReport, { type: 'pub-done' }>;
    sub.child.send({ expect: p.sent });
    const stopTimer = setTimeout(() => sub.child.connected && sub.child.send({ stop: true }), Math.max(5000, opts.budgetMs)).unref();
    const s = (await withTimeout(sub.next('sub-done'), opts.budgetMs + 120_000, 'subscriber')) as Extract<WorkerReport, { type: 'sub-done' }>;
    clearTimeout(stopTimer);
    const mismatch = checksumError(s.received, s.checksum, p.msgChecksum, s.bytes, size);
    if (mismatch) throw new Error(mismatch);
    const seconds = Math.max(1e-9, (s.lastAt - p.startedAt) / 1000);
    return { msgsPerSec: s.received / seconds, mbPerSec: s.bytes / seconds / 1e6, delivered: s.received, truncated: p.sent < count };
  } finally {
    sub.child.kill('SIGKILL');
    pub?.child.kill('SIGKILL');
    await cleanup();
  }
}

async function latency(placement: Placement, transport: string, size: number, samples: number, peerEndpoints: Record<string, string>, opts: BenchOptions) {
  const runId = randomBytes(4).toString('hex');
  const prepared = await placement.prepare(transport, runId, ['ping', 'pong'], size);
  const endpoints = await withPorts(transport, { ...peerEndpoints, ...prepared.endpoints }, ['ping', 'pong']);
  const cleanup = prepared.cleanup;
  const base = { transport, size, count: samples, runId, endpoints, budgetMs: opts.latencyBudgetMs, warmup: 0 };
  const pong = startWorker(placement, { ...base, role: 'pong' });
  let ping: ReturnType<typeof startWorker> | null = null;
  try {
    await withTimeout(pong.next('ready'), 60_000, 'ponger start');
    ping = startWorker(placement, { ...base, role: 'ping' });
    const r = (await withTimeout(ping.next('ping-done'), opts.latencyBudgetMs + 120_000, 'pinger')) as Extract<WorkerReport, { type: 'ping-done' }>;
    return latencyStats(r.oneWayUs);
  } finally {
    if (pong.child.connected) pong.child.send({ stop: true });
    setTimeout(() => pong.child.kill('SIGKILL'), 500).unref();
    ping?.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    await cleanup();
  }
}

/** One transport's runs: a latency run per size and a throughput run per size and count. */
interface Measurer {
  latency(size: number): Promise<{ p50Us: number; p99Us: number; p999Us: number }>;
  throughput(size: number, count: number): Promise<{ msgsPerSec: number; mbPerSec: number; delivered: number; truncated: boolean }>;
}

/** An external peer runs its own programs: the runner asks it for each run, with the same bounds. */
function externalMeasurer(peer: ExternalPeer, opts: BenchOptions): Measurer {
  return {
    async latency(size) {
      const r = await withTimeout(peer.latency(size, opts.latencySamples, opts.latencyBudgetMs), opts.latencyBudgetMs + 120_000, `${peer.name} latency`);
      return latencyStats([...r.oneWayUs]);
    },
    throughput: (size, count) => withTimeout(peer.throughput(size, count, opts.budgetMs), opts.budgetMs + 120_000, `${peer.name} throughput`),
  };
}

export async function runBench(opts: BenchOptions, progress: (line: string) => void, placement: Placement = LOCAL_PLACEMENT): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const emit = (row: BenchRow) => rows.push(row);
  const total = opts.transports.length * opts.sizes.length * opts.counts.length;
  let done = 0;
  for (const transport of opts.transports) {
    const external = EXTERNAL_PEERS[transport];
    const idle = external ? external.idle : idleStrategy(transport);
    const blank = (size: number, count: number): BenchRow => ({
      transport,
      size,
      count,
      msgsPerSec: 0,
      mbPerSec: 0,
      p50Us: NaN,
      p99Us: NaN,
      p999Us: NaN,
      idle,
      delivered: 0,
    });
    const allRows = (extra: Partial<BenchRow>) => {
      for (const size of opts.sizes) for (const count of opts.counts) emit({ ...blank(size, count), ...extra });
      done += opts.sizes.length * opts.counts.length;
    };
    let check;
    try {
      const unsupported = placement.unsupported(transport);
      check = unsupported ? { ok: false as const, reason: unsupported } : external ? external.check() : checkPeer(transport);
    } catch (err) {
      check = { ok: false as const, reason: `check failed: ${(err as Error).message}` };
    }
    if (!check.ok) {
      progress(`${transport}: skipped: ${check.reason}`);
      allRows({ skipped: check.reason });
      continue;
    }
    let measure: Measurer;
    let stop = async () => {};
    if (external) measure = externalMeasurer(external, opts);
    else {
      progress(`${transport}: starting peer`);
      let peer;
      try {
        peer = await startPeer(transport, placement.peerHost);
      } catch (err) {
        const reason = `peer failed to start: ${(err as Error).message}`;
        progress(`${transport}: ${reason}`);
        allRows({ error: reason });
        continue;
      }
      const { endpoints } = peer;
      stop = () => peer.stop();
      measure = {
        latency: (size) => latency(placement, transport, size, opts.latencySamples, endpoints, opts),
        throughput: (size, count) => throughput(placement, transport, size, count, endpoints, opts),
      };
    }
    try {
      for (const size of opts.sizes) {
        let lat = { p50Us: NaN, p99Us: NaN, p999Us: NaN };
        let latencyError: string | undefined;
        try {
          lat = await measure.latency(size);
        } catch (err) {
          latencyError = (err as Error).message.split('\n')[0]!;
          progress(`${transport} ${size} B latency failed: ${latencyError}`);
        }
        const latFields = {
          p50Us: Number(lat.p50Us.toFixed(2)),
          p99Us: Number(lat.p99Us.toFixed(2)),
          p999Us: Number(lat.p999Us.toFixed(2)),
          ...(latencyError ? { latencyError } : {}),
        };
        for (const count of opts.counts) {
          done++;
          try {
            const t = await measure.throughput(size, count);
            const row: BenchRow = {
              ...blank(size, count),
              msgsPerSec: Math.round(t.msgsPerSec),
              mbPerSec: Number(t.mbPerSec.toFixed(1)),
              ...latFields,
              delivered: t.delivered,
              ...(t.truncated ? { truncated: true } : {}),
            };
            emit(row);
            progress(
              `[${done}/${total}] ${transport} ${size} B x ${count}: ${row.msgsPerSec.toLocaleString('en-US')} msg/s, ${row.mbPerSec} MB/s, p50 ${row.p50Us} us, p99 ${row.p99Us} us, p99.9 ${row.p999Us} us, delivered ${row.delivered}${row.truncated ? ' (time budget reached)' : ''}`,
            );
          } catch (err) {
            const message = (err as Error).message.split('\n')[0]!;
            emit({ ...blank(size, count), ...latFields, error: message });
            progress(`[${done}/${total}] ${transport} ${size} B x ${count}: failed: ${message}`);
          }
        }
      }
    } finally {
      await stop();
    }
  }
  return rows;
}
