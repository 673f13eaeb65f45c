/**
 * The benchmark harness against every real peer (installed by bench/peers/setup.sh, which
 * the test script runs): each transport delivers every message and reports figures. Only
 * behaviour is asserted; the figures themselves are for docs/benchmarks.md, not for tests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/proc.js';

interface Row {
  transport: string;
  delivered: number;
  msgsPerSec: number;
  p50Us: number;
  size: number;
  skipped?: string;
  error?: string;
  latencyError?: string;
}

describe('shimmy bench', () => {
  it('measures shared memory, sockets and all four brokers in one run', async () => {
    const transports = ['shm', 'shm-sleep', 'tcp', 'uds', 'mosquitto', 'nats', 'redis', 'kafka'];
    const r = await run(['bench', '--transports', transports.join(','), '--sizes', '16,100KiB', '--counts', '2000', '--latency-samples', '200', '--json', '-']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    expect(rows.map((x) => x.transport)).toEqual(transports.flatMap((t) => [t, t]));
    for (const row of rows) {
      expect(row.skipped, `${row.transport} skipped`).toBeUndefined();
      expect(row.error, `${row.transport} failed`).toBeUndefined();
      expect(row.delivered, row.transport).toBe(2000);
      expect(row.msgsPerSec).toBeGreaterThan(0);
      expect(row.latencyError, `${row.transport} ${row.size} B latency`).toBeUndefined();
      expect(row.p50Us).toBeGreaterThan(0);
    }
  }, 600_000);

  it('--remote: measures Shimmy (replicated between two hosts) and the brokers (on one host, clients on both) across a veth pair, with the raw link from ucx_perftest in the same run', async () => {
    const transports = ['shm', 'mosquitto', 'nats', 'redis', 'kafka'];
    const r = await run([
      'bench',
      '--remote',
      '--transports',
      transports.join(','),
      '--sizes',
      '16,100KiB',
      '--counts',
      '2000',
      '--latency-samples',
      '200',
      '--json',
      '-',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    expect(rows.map((x) => x.transport)).toEqual(['ucx_perftest', 'ucx_perftest', ...transports.flatMap((t) => [t, t])]);
    for (const row of rows) {
      expect(row.skipped, `${row.transport} skipped`).toBeUndefined();
      expect(row.error, `${row.transport} failed`).toBeUndefined();
      if (row.transport !== 'ucx_perftest') expect(row.delivered, row.transport).toBe(2000);
      expect(row.msgsPerSec).toBeGreaterThan(0);
      expect(row.latencyError, `${row.transport} ${row.size} B latency`).toBeUndefined();
      expect(row.p50Us).toBeGreaterThan(0);
    }
    // shm's subscriber ran on host B and its publisher on host A: only the replicators carry the messages between them.
    expect(r.stderr).toMatch(/\[bench\] ucx_perftest 16 B: [\d,]+ msg\/s/);
  }, 600_000);

  it('rejects an unknown transport with the list of known ones', async () => {
    const r = await run(['bench', '--transports', 'carrier-pigeon']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /unknown transport carrier-pigeon \(known: shm, shm-single, shm-sleep, bare-ring, tcp, uds, mosquitto, nats, kafka, redis, aeron, iceoryx2\)/,
    );
  });
});

describe('shimmy demo', () => {
  it('runs every frame through all five stages over shared memory and TCP', async () => {
    const r = await run(['demo', '--frames', '40', '--fps', '0', '--width', '320', '--height', '240', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as Array<{ transport: string; frames: number; fps: number; stages: Array<{ stage: string }> }>;
    expect(results.map((x) => x.transport)).toEqual(['shm', 'tcp']);
    for (const res of results) {
      expect(res.frames).toBe(40);
      expect(res.fps).toBeGreaterThan(0);
      expect(res.stages.map((s) => s.stage)).toEqual(['camera', 'metadata', 'detect', 'blur', 'resize']);
    }
  }, 120_000);
});

describe('shimmy bench-control-plane', () => {
  it('answers every request of every scenario and prints the figures, twice over with --repeat', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-bench-'));
    const json = join(dir, 'control-plane.json');
    const r = await run([
      'bench-control-plane',
      '--nodes',
      '100',
      '--pods',
      '500',
      '--channels',
      '20',
      '--admission-rate',
      '100',
      '--extender-rate',
      '100',
      '--seconds',
      '1',
      '--warmup',
      '0',
      '--repeat',
      '2',
      '--json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('repetition 2 of 2');
    expect(r.stdout).toMatch(/p99 min\.\.max/);
    const text = readFileSync(json, 'utf8');
    rmSync(dir, { recursive: true });
    const out = JSON.parse(text) as {
      repeat: number;
      runs: unknown[];
      results: Array<{ what: string; requests: number; failed: number; p99: number; runs: number }>;
    };
    expect(out.repeat).toBe(2);
    expect(out.runs).toHaveLength(2);
    expect(out.results.map((x) => x.what)).toEqual([
      'admission (HTTPS, 1 conn)',
      '  floor: empty HTTPS endpoint (1 conn)',
      'admission (HTTPS, 8 conn)',
      '  floor: empty HTTPS endpoint (8 conn)',
      'extender filter (mutual TLS, 100 NodeNames)',
      'extender prioritize (mutual TLS, 100 NodeNames)',
      '  floor: empty mutual-TLS endpoint, same body',
      'filter (decision only)',
      'prioritize (decision only)',
    ]);
    for (const row of out.results) {
      expect(row.failed, row.what).toBe(0);
      expect(row.requests, row.what).toBeGreaterThan(0);
      expect(row.p99, row.what).toBeGreaterThan(0);
      expect(row.runs).toBe(2);
    }
  }, 120_000);
});
