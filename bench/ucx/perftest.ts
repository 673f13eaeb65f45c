/**
 * The raw link between two hosts, as UCX's own `ucx_perftest` measures it (the ceiling the
 * link benchmark and `shimmy bench --remote` compare against), and a process on a host with
 * its output: UCX limited to TCP on that host's veth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { HostPair, Side } from '../../src/replication/host-pair.js';

export interface Proc {
  child: ChildProcess;
  /** All its output once it exits 0; rejects when it exits otherwise. */
  out: Promise<string>;
  /** Its stdout lines so far. */
  lines: string[];
  /** Its stdout and stderr so far. */
  output(): string;
}

export function runOn(pair: HostPair, side: Side, program: string, args: string[], env: Record<string, string> = {}): Proc {
  const [cmd, argv] = pair.on(side, program, args);
  const child = spawn(cmd, argv, { env: { ...process.env, UCX_TLS: 'tcp', UCX_NET_DEVICES: pair.veth[side], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d;
    lines.push(...d.toString().split('\n').filter(Boolean));
  });
  child.stderr.on('data', (d: Buffer) => (text += d));
  const out = new Promise<string>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`${program} ${args.join(' ')} exited ${code}: ${text.slice(-800)}`)))),
  );
  return { child, out, lines, output: () => text };
}

/** The first stdout line matching `pattern`, within `ms`; fails at once if the process ends first. */
export async function until(proc: Proc, pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    for (const l of proc.lines) {
      const m = pattern.exec(l);
      if (m) return m;
    }
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`no ${pattern}: ${proc.child.spawnargs.join(' ')} ended first: ${proc.output().slice(-500)}`);
    if (Date.now() > end) throw new Error(`no ${pattern} from ${proc.child.spawnargs.join(' ')} within ${ms} ms: ${proc.output().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** ucx_perftest's "Final:" line: [iterations, p50 latency us, avg, overall, MB/s avg, MB/s overall, ...]. */
export async function perftest(pair: HostPair, test: string, size: number, count: number): Promise<number[]> {
  const port = String(20000 + (process.pid % 10000));
  const server = runOn(pair, 'a', 'ucx_perftest', ['-p', port]);
  await new Promise((r) => setTimeout(r, 500));
  const client = runOn(pair, 'b', 'ucx_perftest', [
    pair.address.a,
    '-p',
    port,
    '-t',
    test,
    '-s',
    String(size),
    '-n',
    String(count),
    '-w',
    String(Math.ceil(count / 10)),
  ]);
  const [text] = await Promise.all([client.out, server.out]);
  const final = text.split('\n').find((l) => l.startsWith('Final:'));
  if (!final) throw new Error(`ucx_perftest printed no Final line: ${text.slice(-800)}`);
  return final.split(/\s+/).slice(1).map(Number);
}
