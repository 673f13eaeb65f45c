/**
 * `shimmy bench-control-plane`: admission and extender latency under a fixed request
 * rate, from autocannon on loopback against a separate server process (serve.ts), plus
 * the extender's decision time alone. Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { table } from '../../src/cli/channel-commands.js';
import { filterNodes, prioritizeNodes } from '../../src/extender/placement.js';
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
}

function figures(what: string, rate: number, ms: number[], failed: number): LatencyFigures {
  const sorted = [...ms].sort((a, b) => a - b);
  return { what, rate, requests: ms.length + failed, failed, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

async function load(what: string, url: string, bodies: string[], rate: number, seconds: number, connections: number, ca?: string): Promise<LatencyFigures> {
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
          ...(ca ? { tlsOptions: { ca } } : {}),
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
  await run(2, false);
  await run(seconds, true);
  return figures(what, rate, latencies, failed);
}

function decisionTimes(shape: ClusterShape, iterations: number): LatencyFigures[] {
  const view = syntheticView(shape);
  const names = nodeNames(shape.nodes);
  const out: LatencyFigures[] = [];
  for (const [what, fn] of [['filter (decision only)', filterNodes], ['prioritize (decision only)', prioritizeNodes]] as const) {
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

export interface ControlPlaneBenchOptions extends ClusterShape {
  admissionRate: number;
  extenderRate: number;
  seconds: number;
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
    const { webhook, extender, floor, tlsFloor, ca } = JSON.parse(first) as { webhook: string; extender: string; floor: string; tlsFloor: string; ca: string };
    const results: LatencyFigures[] = [];
    const reviews = Array.from({ length: 64 }, (_, i) => {
      const pod = pendingPod(i, opts);
      delete pod.metadata!.annotations;
      pod.spec = { containers: pod.spec!.containers.map((c) => ({ ...c, env: [] })) };
      return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `uid-${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: NAMESPACE, operation: 'CREATE', object: pod } });
    });
    opts.progress(`admission: ${opts.admissionRate} req/s for ${opts.seconds} s (${opts.channels} channels in the namespace)`);
    // One connection sends requests one after another at the rate; eight connections
    // (how the API server calls under concurrent pod creations) send them in bursts.
    for (const connections of [1, 8]) {
      opts.progress(`admission: ${opts.admissionRate} req/s over ${connections} connection(s) for ${opts.seconds} s (${opts.channels} channels in the namespace)`);
      results.push(await load(`admission (HTTPS, ${connections} conn)`, webhook, reviews, opts.admissionRate, opts.seconds, connections, ca));
      results.push(await load(`  floor: empty HTTPS endpoint (${connections} conn)`, tlsFloor, reviews, opts.admissionRate, opts.seconds, connections, ca));
    }
    const args = Array.from({ length: 64 }, (_, i) => JSON.stringify({ Pod: pendingPod(i, opts), NodeNames: nodeNames(opts.nodes) }));
    for (const verb of ['filter', 'prioritize']) {
      opts.progress(`extender ${verb}: ${opts.extenderRate} req/s for ${opts.seconds} s (${opts.nodes} nodes, ${opts.pods} pods)`);
      // kube-scheduler calls the extender from its one scheduling loop: one request at a time.
      results.push(await load(`extender ${verb} (HTTP, ${opts.nodes} NodeNames)`, `${extender}/${verb}`, args, opts.extenderRate, opts.seconds, 1));
    }
    results.push(await load('  floor: empty HTTP endpoint, same body', floor, args, opts.extenderRate, opts.seconds, 1));
    results.push(...decisionTimes(opts, 5000));
    return results;
  } finally {
    child.stdin!.end();
    child.kill('SIGTERM');
  }
}

export async function runControlPlaneBench(flags: { admissionRate: number; extenderRate: number; seconds: number; nodes: number; pods: number; channels: number; json?: string }): Promise<void> {
  const results = await benchControlPlane({ ...flags, progress: (line) => console.error(`bench-control-plane: ${line}`) });
  const f = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);
  console.log(table([['scenario', 'rate/s', 'requests', 'failed', 'p50', 'p90', 'p99', 'max'], ...results.map((r) => [r.what, r.rate ? String(r.rate) : '-', String(r.requests), String(r.failed), f(r.p50), f(r.p90), f(r.p99), f(r.max)])]));
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, shape: { nodes: flags.nodes, pods: flags.pods, channels: flags.channels }, results }, null, 2));
}
