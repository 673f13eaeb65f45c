/**
 * `shimmy bench-control-plane`: admission and extender latency under a fixed request
 * rate, from autocannon on loopback against a separate server process (serve.ts), plus
 * the extender's decision time alone. Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { table } from '../../src/terminal/table.js';
import { filterNodes, prioritizeNodes } from '../../src/extender/placement.js';
import { packageRoot } from '../../src/paths.js';
import { percentile } from '../../src/stats.js';
import { NAMESPACE, nodeNames, pendingPod, syntheticView, type ClusterShape } from './synthetic-cluster.js';

export interface LatencyFigures {
  what: string;
  rate: number;
  requests: number;
  failed: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** With --repeat: how many runs this row combines, and the spread of their p99. */
  runs?: number;
  p99Min?: number;
  p99Max?: number;
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** One row per scenario: the median of each percentile over the runs, the largest max. */
export function medianFigures(runs: LatencyFigures[][]): LatencyFigures[] {
  return runs[0]!.map((first, i) => {
    const same = runs.map((rows) => rows[i]!);
    const p99s = same.map((r) => r.p99);
    return {
      what: first.what,
      rate: first.rate,
      requests: same.reduce((n, r) => n + r.requests, 0),
      failed: same.reduce((n, r) => n + r.failed, 0),
      p50: median(same.map((r) => r.p50)),
      p90: median(same.map((r) => r.p90)),
      p99: median(p99s),
      max: Math.max(...same.map((r) => r.max)),
      runs: same.length,
      p99Min: Math.min(...p99s),
      p99Max: Math.max(...p99s),
    };
  });
}

function figures(what: string, rate: number, ms: number[], failed: number): LatencyFigures {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    what,
    rate,
    requests: ms.length + failed,
    failed,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

async function load(
  what: string,
  url: string,
  bodies: string[],
  rate: number,
  { seconds, warmup }: Timing,
  connections: number,
  tls?: { ca: string; cert?: string; key?: string },
): Promise<LatencyFigures> {
  const latencies: number[] = [];
  let failed = 0;
  const run = (duration: number, record: boolean) =>
    new Promise<void>((resolve, reject) => {
      let i = 0;
      const instance = autocannon(
        {
          url,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          connections,
          overallRate: rate,
          duration,
          requests: [{ setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length]! }) }],
          ...(tls ? { tlsOptions: tls } : {}),
        },
        (err) => (err ? reject(err) : resolve()),
      );
      instance.on('response', (_client, status, _bytes, ms) => {
        if (!record) return;
        if (status >= 200 && status < 300) latencies.push(ms);
        else failed++;
      });
      instance.on('reqError', () => record && failed++);
    });
  if (warmup > 0) await run(warmup, false);
  await run(seconds, true);
  return figures(what, rate, latencies, failed);
}

function decisionTimes(shape: ClusterShape, iterations: number): LatencyFigures[] {
  const view = syntheticView(shape);
  const names = nodeNames(shape.nodes);
  const out: LatencyFigures[] = [];
  for (const [what, fn] of [
    ['filter (decision only)', filterNodes],
    ['prioritize (decision only)', prioritizeNodes],
  ] as const) {
    const ms: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const pod = pendingPod(i, shape);
      const t = process.hrtime.bigint();
      fn(view, pod, names);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    out.push(figures(what, 0, ms.slice(iterations / 10), 0));
  }
  return out;
}

interface Timing {
  /** Measured seconds per scenario. */
  seconds: number;
  /** Unmeasured seconds before them. */
  warmup: number;
}

export interface ControlPlaneBenchOptions extends ClusterShape, Timing {
  admissionRate: number;
  extenderRate: number;
  progress: (line: string) => void;
}

export async function benchControlPlane(opts: ControlPlaneBenchOptions): Promise<LatencyFigures[]> {
  const serve = fileURLToPath(new URL('./serve.js', import.meta.url));
  const child = spawn(process.execPath, [serve, String(opts.nodes), String(opts.pods), String(opts.channels)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`benchmark server exited (${code})`)));
    });
    const { webhook, extender, floor, tlsFloor, ca, clientCert, clientKey } = JSON.parse(first) as Record<
      'webhook' | 'extender' | 'floor' | 'tlsFloor' | 'ca' | 'clientCert' | 'clientKey',
      string
    >;
    const mutualTls = { ca, cert: clientCert, key: clientKey };
    const results: LatencyFigures[] = [];
    const reviews = Array.from({ length: 64 }, (_, i) => {
      const pod = pendingPod(i, opts);
      delete pod.metadata!.annotations;
      pod.spec = { containers: pod.spec!.containers.map((c) => ({ ...c, env: [] })) };
      return JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `uid-${i}`,
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace: NAMESPACE,
          operation: 'CREATE',
          object: pod,
        },
      });
    });
    // One connection sends requests one after another at the rate; eight connections
    // (how the API server calls under concurrent pod creations) send them in bursts.
    for (const connections of [1, 8]) {
      opts.progress(
        `admission: ${opts.admissionRate} req/s over ${connections} connection(s) for ${opts.seconds} s (${opts.channels} channels in the namespace)`,
      );
      results.push(await load(`admission (HTTPS, ${connections} conn)`, webhook, reviews, opts.admissionRate, opts, connections, { ca }));
      results.push(await load(`  floor: empty HTTPS endpoint (${connections} conn)`, tlsFloor, reviews, opts.admissionRate, opts, connections, { ca }));
    }
    const args = Array.from({ length: 64 }, (_, i) => JSON.stringify({ Pod: pendingPod(i, opts), NodeNames: nodeNames(opts.nodes) }));
    for (const verb of ['filter', 'prioritize']) {
      opts.progress(`extender ${verb}: ${opts.extenderRate} req/s for ${opts.seconds} s (${opts.nodes} nodes, ${opts.pods} pods)`);
      // kube-scheduler calls the extender from its one scheduling loop: one request at a time.
      results.push(await load(`extender ${verb} (mutual TLS, ${opts.nodes} NodeNames)`, `${extender}/${verb}`, args, opts.extenderRate, opts, 1, mutualTls));
    }
    results.push(await load('  floor: empty mutual-TLS endpoint, same body', floor, args, opts.extenderRate, opts, 1, mutualTls));
    results.push(...decisionTimes(opts, 5000));
    return results;
  } finally {
    child.stdin!.end();
    child.kill('SIGTERM');
  }
}

export interface ControlPlaneBenchFlags extends ClusterShape, Timing {
  admissionRate: number;
  extenderRate: number;
  repeat: number;
  json?: string;
}

const formatMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

export function figuresTable(results: LatencyFigures[]): string {
  const repeated = results.some((r) => r.runs !== undefined);
  const header = ['scenario', 'rate/s', 'requests', 'failed', 'p50', 'p90', 'p99', ...(repeated ? ['p99 min..max'] : []), 'max'];
  const rows = results.map((r) => [
    r.what,
    r.rate ? String(r.rate) : '-',
    String(r.requests),
    String(r.failed),
    formatMs(r.p50),
    formatMs(r.p90),
    formatMs(r.p99),
    ...(repeated ? [r.p99Min !== undefined ? `${formatMs(r.p99Min)}..${formatMs(r.p99Max!)}` : '-'] : []),
    formatMs(r.max),
  ]);
  return table([header, ...rows]);
}

/**
 * Each repetition runs in a fresh process of its own, like the first: one load generator
 * running many repetitions carried garbage from one into the next, and its pauses showed
 * in the later runs' tails (filter p99 1.8 ms in the first run, 5.6 and 6.3 ms after).
 */
async function repetition(flags: ControlPlaneBenchFlags, json: string): Promise<LatencyFigures[]> {
  const args = [join(packageRoot, 'bin', 'shimmy.js'), 'bench-control-plane', '--repeat', '1', '--json', json];
  for (const [flag, value] of [
    ['--admission-rate', flags.admissionRate],
    ['--extender-rate', flags.extenderRate],
    ['--seconds', flags.seconds],
    ['--warmup', flags.warmup],
    ['--nodes', flags.nodes],
    ['--pods', flags.pods],
    ['--channels', flags.channels],
  ] as const)
    args.push(flag, String(value));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`benchmark repetition exited with ${code}`);
  return (JSON.parse(readFileSync(json, 'utf8')) as { results: LatencyFigures[] }).results;
}

export async function runControlPlaneBench(flags: ControlPlaneBenchFlags): Promise<void> {
  const progress = (line: string) => console.error(`bench-control-plane: ${line}`);
  const runs: LatencyFigures[][] = [];
  if (flags.repeat === 1) runs.push(await benchControlPlane({ ...flags, progress }));
  else {
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-bench-cp-'));
    try {
      for (let r = 1; r <= flags.repeat; r++) {
        progress(`repetition ${r} of ${flags.repeat}`);
        runs.push(await repetition(flags, join(dir, `run-${r}.json`)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const results = flags.repeat > 1 ? medianFigures(runs) : runs[0]!;
  console.log(figuresTable(results));
  if (flags.json)
    writeFileSync(
      flags.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          shape: { nodes: flags.nodes, pods: flags.pods, channels: flags.channels },
          repeat: flags.repeat,
          results,
          ...(flags.repeat > 1 ? { runs } : {}),
        },
        null,
        2,
      ),
    );
}
