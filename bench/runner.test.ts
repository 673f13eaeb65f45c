import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXTERNAL_PEERS } from './external/index.js';
import type { ExternalPeer } from './external/external.js';
import { ROOT } from './peers.js';
import { benchTransportNames, checksumError, latencyStats, runBench, workerPath, type BenchOptions } from './runner.js';
import { TRANSPORT_NAMES } from './transports/index.js';
import { benchMessage, checksum } from './transports/transport.js';

const opts = (transports: string[], extra: Partial<BenchOptions> = {}): BenchOptions => ({
  transports,
  sizes: [16],
  counts: [20_000],
  budgetMs: 5000,
  latencySamples: 200,
  latencyBudgetMs: 2000,
  ...extra,
});

describe('checksumError', () => {
  const one = checksum(benchMessage(100), 0, 100);
  it('accepts the publisher message checksum times the delivered count', () => {
    expect(checksumError(3, (3 * one) % 2 ** 32, one, 300, 100)).toBeNull();
    expect(checksumError(0, 0, one, 0, 100)).toBeNull();
  });

  it('reports a sum or byte count that does not match', () => {
    expect(checksumError(3, (2 * one) % 2 ** 32, one, 300, 100)).toMatch(/^checksum mismatch: 3 messages \(300 bytes\) summed to 0x[0-9a-f]{8}, expected 0x/);
    expect(checksumError(3, (3 * one) % 2 ** 32, one, 299, 100)).toMatch(/^checksum mismatch: .*300 bytes\)$/);
  });
});

describe('latencyStats', () => {
  it('gives p50, p99 and p99.9 by nearest rank', () => {
    const samples = Array.from({ length: 2000 }, (_, i) => 2000 - i);
    expect(latencyStats(samples)).toEqual({ p50Us: 1000, p99Us: 1980, p999Us: 1998 });
    expect(latencyStats([3, 1, 2])).toEqual({ p50Us: 2, p99Us: 3, p999Us: 3 });
    expect(latencyStats([])).toEqual({ p50Us: NaN, p99Us: NaN, p999Us: NaN });
  });
});

describe('external peers', () => {
  const calls: string[] = [];
  const fake = (ok: boolean): ExternalPeer => ({
    name: 'fake-peer',
    description: 'a stand-in',
    idle: 'BusySpinIdleStrategy',
    check: () => (ok ? { ok: true } : { ok: false, reason: 'not built; run setup.sh' }),
    async throughput(size, count, budgetMs) {
      calls.push(`throughput ${size} ${count} ${budgetMs}`);
      return { msgsPerSec: 1_234_567.8, mbPerSec: 19.75, delivered: count, truncated: false };
    },
    async latency(size, samples, budgetMs) {
      calls.push(`latency ${size} ${samples} ${budgetMs}`);
      return { oneWayUs: Array.from({ length: 1000 }, (_, i) => (i + 1) / 100) };
    },
  });
  afterEach(() => {
    delete EXTERNAL_PEERS['fake-peer'];
    calls.length = 0;
  });

  it('join the --transports choices after the Node transports', () => {
    EXTERNAL_PEERS['fake-peer'] = fake(true);
    const names = benchTransportNames();
    expect(names.slice(0, TRANSPORT_NAMES.length)).toEqual(TRANSPORT_NAMES);
    expect(names.slice(TRANSPORT_NAMES.length)).toEqual(Object.keys(EXTERNAL_PEERS));
    expect(names).toContain('fake-peer');
    expect(TRANSPORT_NAMES).toContain('bare-ring');
  });

  it('run their own throughput and latency with the same sizes, counts and budgets, in the same rows', async () => {
    EXTERNAL_PEERS['fake-peer'] = fake(true);
    const rows = await runBench(opts(['fake-peer'], { sizes: [16, 1024], counts: [10, 20] }), () => {});
    expect(calls).toEqual([
      'latency 16 200 2000',
      'throughput 16 10 5000',
      'throughput 16 20 5000',
      'latency 1024 200 2000',
      'throughput 1024 10 5000',
      'throughput 1024 20 5000',
    ]);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({
      transport: 'fake-peer',
      size: 16,
      count: 10,
      msgsPerSec: 1_234_568,
      mbPerSec: 19.8,
      p50Us: 5,
      p99Us: 9.9,
      p999Us: 9.99,
      idle: 'BusySpinIdleStrategy',
      delivered: 10,
    });
  });

  it('are skipped, with the reason, when check() says they are not built', async () => {
    EXTERNAL_PEERS['fake-peer'] = fake(false);
    const lines: string[] = [];
    const rows = await runBench(opts(['fake-peer']), (l) => lines.push(l));
    expect(calls).toEqual([]);
    expect(rows).toEqual([expect.objectContaining({ transport: 'fake-peer', skipped: 'not built; run setup.sh', idle: 'BusySpinIdleStrategy' })]);
    expect(lines).toEqual(['fake-peer: skipped: not built; run setup.sh']);
  });
});

/** The forked worker is compiled JavaScript: run for real only when dist is as new as its sources. */
function distIsFresh(): boolean {
  if (!existsSync(workerPath())) return false;
  const sources = ['bench/worker.ts', ...readdirSync(join(ROOT, 'bench/transports')).map((f) => `bench/transports/${f}`)].filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  return sources.every((f) => {
    const js = join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
    return existsSync(js) && statSync(js).mtimeMs >= statSync(join(ROOT, f)).mtimeMs;
  });
}

describe('a short real run (compiled workers; `node scripts/build.mjs` first)', () => {
  it.skipIf(!distIsFresh())(
    'measures tcp and bare-ring with every byte checked',
    async () => {
      const rows = await runBench(opts(['tcp', 'bare-ring']), () => {});
      for (const r of rows) {
        expect(r.error, `${r.transport}: ${r.error}`).toBeUndefined();
        expect(r.latencyError).toBeUndefined();
        expect(r).toMatchObject({ delivered: 20_000, size: 16 });
        expect(r.msgsPerSec).toBeGreaterThan(0);
        expect(r.p50Us).toBeGreaterThan(0);
        expect(r.p999Us).toBeGreaterThanOrEqual(r.p99Us);
      }
      expect(rows.map((r) => [r.transport, r.idle])).toEqual([
        ['tcp', 'event loop (epoll)'],
        ['bare-ring', 'busy-spin'],
      ]);
    },
    30_000,
  );
});
