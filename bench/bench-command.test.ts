import { describe, expect, it } from 'vitest';
import { formatRows, medianRows } from './bench-command.js';
import type { BenchRow } from './runner.js';

const row = (transport: string, msgsPerSec: number, extra: Partial<BenchRow> = {}): BenchRow => ({
  transport,
  size: 16,
  count: 1000,
  msgsPerSec,
  mbPerSec: 0,
  p50Us: 1,
  p99Us: 2,
  p999Us: 3,
  idle: 'busy-spin',
  delivered: 1000,
  ...extra,
});

describe('medianRows', () => {
  it('keeps the median run of each row and records the spread', () => {
    const runs = [
      [row('shm', 5), row('tcp', 1)],
      [row('shm', 11), row('tcp', 3)],
      [row('shm', 8), row('tcp', 2)],
    ];
    const med = medianRows(runs);
    expect(med.map((r) => [r.transport, r.msgsPerSec, r.minMsgsPerSec, r.maxMsgsPerSec, r.runs])).toEqual([
      ['shm', 8, 5, 11, 3],
      ['tcp', 2, 1, 3, 3],
    ]);
  });

  it('leaves failed runs out of the median, and a row that always failed as it was', () => {
    const runs = [
      [row('nats', 0, { error: 'peer died' }), row('redis', 0, { skipped: 'not installed' })],
      [row('nats', 7), row('redis', 0, { skipped: 'not installed' })],
    ];
    const [nats, redis] = medianRows(runs);
    expect(nats).toMatchObject({ msgsPerSec: 7, runs: 1 });
    expect(redis!.skipped).toBe('not installed');
  });
});

describe('formatRows', () => {
  it('shows p99.9 beside p50 and p99, and a legend of how each transport waits', () => {
    const out = formatRows([
      row('shm', 5, { p50Us: 0.5, p99Us: 4.25, p999Us: 12.5 }),
      row('shm', 6, { count: 2000, p50Us: 0.5, p99Us: 4.25, p999Us: 12.5 }),
      row('tcp', 3, { idle: 'event loop (epoll)', p999Us: 61 }),
      row('nats', 0, { idle: 'event loop (epoll)', skipped: 'nats-server is not installed' }),
    ]);
    const [header, shm] = out.split('\n');
    expect(header).toMatch(/P50 US\s+P99 US\s+P99\.9 US\s+DELIVERED/);
    expect(shm).toMatch(/0\.5\s+4\.25\s+12\.5\s+1000$/);
    expect(out).toMatch(/nats .*skipped .*nats-server is not installed/);
    // One legend entry per transport, in row order.
    expect(out.split('\n').at(-1)).toBe('Receivers wait by: shm busy-spin; tcp event loop (epoll); nats event loop (epoll)');
  });

  it('shows a failed latency run as dashes, not NaN', () => {
    const out = formatRows([row('redis', 9, { p50Us: NaN, p99Us: NaN, p999Us: NaN, latencyError: 'ponger start timed out' })]);
    expect(out).not.toContain('NaN');
    expect(out.split('\n')[1]).toMatch(/-\s+-\s+-\s+1000$/);
  });

  it('shows the range column only for repeated runs', () => {
    expect(formatRows([row('shm', 5)])).not.toContain('MIN..MAX');
    expect(formatRows(medianRows([[row('shm', 5)], [row('shm', 9)]]))).toMatch(/MSG\/S MIN\.\.MAX[\s\S]*5\.\.9/);
  });
});
