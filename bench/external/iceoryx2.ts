/**
 * iceoryx2 as an external benchmark peer: two processes of bench/peers/iceoryx2's Rust program
 * (the iceoryx2 crate, IPC service), 1 publisher -> 1 subscriber on loaned `[u8]` slices with
 * RetryUntilDelivered back-pressure for throughput, and ping-pong for latency. Each process
 * prints one JSON line when it is done; both sides report the sum of every payload byte they
 * sent or received, and a run whose receiver did not get exactly what was sent fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExternalCheck, ExternalLatency, ExternalPeer, ExternalThroughput } from './external.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/?$/, '');
/** Built by bench/peers/iceoryx2/setup.sh. */
export const ICEORYX2_BIN = join(ROOT, '.cache/peers/iceoryx2/iceoryx2-peer');

/** The iceoryx2 crate version pinned in the peer's Cargo.toml. */
export function iceoryx2Version(): string | null {
  try {
    const toml = readFileSync(join(ROOT, 'bench/peers/iceoryx2/Cargo.toml'), 'utf8');
    return /^iceoryx2\s*=\s*"=?([^"]+)"/m.exec(toml)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Same rule as runner.ts's warmupCount: untimed messages before each throughput run. */
function warmupCount(size: number, count: number): number {
  return Math.min(count, 100_000, Math.max(200, Math.floor(50e6 / size)));
}

/** Byte sums are u64 in the programs, so they travel as decimal strings. */
export interface SubReport {
  received: number;
  warmupReceived: number;
  bytes: number;
  checksum: string;
  /** CLOCK_MONOTONIC ns when the end-of-run message arrived (after the last timed one). */
  lastNs: number;
}
export interface PubReport {
  sent: number;
  warmupSent: number;
  checksum: string;
  /** CLOCK_MONOTONIC ns before the first timed message. */
  startNs: number;
  endNs: number;
}
export interface PingReport {
  samples: number;
  sentChecksum: string;
  recvChecksum: string;
  oneWayUs: number[];
}
export interface PongReport {
  echoed: number;
  checksum: string;
}

interface Program<T> {
  child: ChildProcess;
  report: Promise<T>;
  exited: Promise<void>;
}

/** Programs still running; killed if this process exits first (they spin until their timeout). */
const running = new Set<ChildProcess>();
process.on('exit', () => running.forEach((c) => c.kill('SIGKILL')));

function start<T>(role: string, args: Record<string, string | number>): Program<T> {
  const argv = [role, ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const child = spawn(ICEORYX2_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  }).then(() => void running.delete(child));
  const report = new Promise<T>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`iceoryx2 ${role} could not start: ${err.message}`)));
    // 'close' comes after the last stdout data.
    child.once('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) {
        try {
          return resolve(JSON.parse(line) as T);
        } catch {
          // reported below
        }
      }
      const tail = stderr.trim().split('\n').slice(-6).join('\n');
      reject(new Error(`iceoryx2 ${role} exited with ${code ?? signal}${tail ? `:\n${tail}` : ''}`));
    });
  });
  report.catch(() => {});
  return { child, report, exited };
}

/**
 * Runs two programs to completion within `limitMs`. On a timeout or a failure of either, both
 * are killed (SIGKILL) and what killed nodes left in shared memory is removed.
 */
async function runPair<A, B>(a: Program<A>, b: Program<B>, limitMs: number, what: string): Promise<[A, B]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`iceoryx2 ${what} timed out after ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([Promise.all([a.report, b.report]), timeout]);
  } catch (err) {
    for (const p of [a, b]) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all([a.exited, b.exited]);
    await cleanup();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Removes the resources of dead (killed) iceoryx2 nodes. */
async function cleanup(): Promise<void> {
  const p = start<unknown>('cleanup', {});
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.report.catch(() => {});
  clearTimeout(timer);
}

/** A service name no other run uses. */
function serviceName(): string {
  return `shimmy-bench/iceoryx2/${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Default margin past the time budget for start-up, warm-up and draining. */
const SLACK_MS = 30_000;

export interface ThroughputRun {
  result: ExternalThroughput;
  pub: PubReport;
  sub: SubReport;
}

/** One throughput run, with both programs' reports (the test compares their checksums). */
export async function throughputRun(size: number, count: number, budgetMs: number, slackMs = SLACK_MS): Promise<ThroughputRun> {
  const common = { service: serviceName(), size, count, warmup: warmupCount(size, count), 'timeout-ms': budgetMs + slackMs };
  const sub = start<SubReport>('sub', common);
  const pub = start<PubReport>('pub', { ...common, 'budget-ms': budgetMs });
  const [p, s] = await runPair(pub, sub, budgetMs + slackMs + 5_000, `throughput ${size} B x ${count}`);
  const seconds = Math.max(1e-9, (s.lastNs - p.startNs) / 1e9);
  const result = { msgsPerSec: s.received / seconds, mbPerSec: s.bytes / seconds / 1e6, delivered: s.received, truncated: p.sent < count };
  return { result, pub: p, sub: s };
}

export interface LatencyRun {
  result: ExternalLatency;
  ping: PingReport;
  pong: PongReport;
}

/** One ping-pong run, with both programs' reports. */
export async function latencyRun(size: number, samples: number, budgetMs: number, slackMs = SLACK_MS): Promise<LatencyRun> {
  const common = { service: serviceName(), size, 'timeout-ms': budgetMs + slackMs };
  const pong = start<PongReport>('pong', common);
  const ping = start<PingReport>('ping', { ...common, count: samples, 'budget-ms': budgetMs });
  const [pi, po] = await runPair(ping, pong, budgetMs + slackMs + 5_000, `latency ${size} B`);
  return { result: { oneWayUs: pi.oneWayUs }, ping: pi, pong: po };
}

const version = iceoryx2Version();

export const iceoryx2: ExternalPeer = {
  name: 'iceoryx2',
  description: `iceoryx2${version ? ` ${version}` : ''} (Rust, zero-copy shared memory): loaned [u8] slices, 1 publisher -> 1 subscriber, RetryUntilDelivered`,
  idle: 'busy-spin (receive() in a loop with std::hint::spin_loop)',
  check(): ExternalCheck {
    if (existsSync(ICEORYX2_BIN)) return { ok: true };
    return { ok: false, reason: `iceoryx2 peer is not built (${ICEORYX2_BIN}); run: bash bench/peers/setup.sh` };
  },
  async throughput(size, count, budgetMs) {
    const { result, pub, sub } = await throughputRun(size, count, budgetMs);
    if (sub.received !== pub.sent || sub.warmupReceived !== pub.warmupSent) {
      throw new Error(`iceoryx2 delivered ${sub.received} of ${pub.sent} messages (warm-up ${sub.warmupReceived} of ${pub.warmupSent})`);
    }
    if (sub.checksum !== pub.checksum) throw new Error(`iceoryx2 checksum mismatch: sent ${pub.checksum}, received ${sub.checksum}`);
    return result;
  },
  async latency(size, samples, budgetMs) {
    const { result, ping, pong } = await latencyRun(size, samples, budgetMs);
    if (pong.checksum !== ping.sentChecksum || ping.recvChecksum !== ping.sentChecksum) {
      throw new Error(`iceoryx2 checksum mismatch: pinged ${ping.sentChecksum}, ponger got ${pong.checksum}, replies ${ping.recvChecksum}`);
    }
    return result;
  },
};
