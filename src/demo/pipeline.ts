/**
 * The paper's pipeline on one machine: camera -> metadata -> detect -> blur -> resize, one
 * process per stage, run once over Shimmy channels and once over TCP on loopback, with
 * frames per second and per-stage latency printed side by side.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Channel } from '../channel/channel.js';
import { table } from '../terminal/table.js';
import { percentile } from '../stats.js';
import { STAGES, frameBytes } from './frame.js';
import type { StageConfig, StageReport } from './stage.js';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface DemoOptions {
  frames: number;
  fps: number;
  width: number;
  height: number;
  transports: Array<'shm' | 'tcp'>;
}

export interface StageLatency {
  stage: string;
  hopP50Us: number;
  hopP99Us: number;
  workP50Ms: number;
}

export interface DemoResult {
  transport: 'shm' | 'tcp';
  frames: number;
  fps: number;
  endToEndP50Ms: number;
  endToEndP99Ms: number;
  stages: StageLatency[];
}

const STAGE_SCRIPT = fileURLToPath(new URL('./stage-process.js', import.meta.url));
const pct = (xs: number[], p: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );

/** Each hop's ring: room for eight frames, a power of two. */
export function hopRing(opts: Pick<DemoOptions, 'width' | 'height'>): { capacity: number; maxMessage: number } {
  const maxMessage = frameBytes(opts.width, opts.height);
  let capacity = 1 << 20;
  while (capacity < maxMessage * 8) capacity *= 2;
  return { capacity, maxMessage };
}

async function runOnce(transport: 'shm' | 'tcp', opts: DemoOptions): Promise<DemoResult> {
  const runId = randomBytes(3).toString('hex');
  const namespace = 'shimmy-demo';
  const refs = STAGES.slice(1).map((_, i) => ({ namespace, name: `demo-${runId}-hop${i + 1}` }));
  if (transport === 'shm') {
    const { capacity, maxMessage } = hopRing(opts);
    for (const ref of refs) Channel.create(ref, { capacity, maxMessage }).close();
  }
  const children = STAGES.map((stage) => {
    const cfg: StageConfig = { stage, transport, frames: opts.frames, fps: opts.fps, width: opts.width, height: opts.height, channels: { namespace, runId } };
    return fork(STAGE_SCRIPT, [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  });
  // Any stage failing fails the run at once, whichever stage the orchestrator waits on.
  let failStage: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    failStage = reject;
  });
  failed.catch(() => {});
  try {
    const messages = children.map((c, i) => {
      const queue: StageReport[] = [];
      const waiters: Array<(r: StageReport) => void> = [];
      c.on('message', (r: StageReport) => {
        if (r.type === 'error') failStage(new ShimmyError(ErrorCode.DEMO_FAILED, `stage ${STAGES[i]} failed: ${r.message}`, ''));
        else if (waiters.length) waiters.shift()!(r);
        else queue.push(r);
      });
      c.on('exit', (code, signal) => {
        if (code || signal) failStage(new ShimmyError(ErrorCode.DEMO_FAILED, `stage ${STAGES[i]} exited with ${signal ?? `code ${code}`}`, ''));
      });
      return () => Promise.race([failed, new Promise<StageReport>((resolve) => (queue.length ? resolve(queue.shift()!) : waiters.push(resolve)))]);
    });
    const ports: Array<number | undefined> = [undefined];
    for (let i = 1; i < STAGES.length; i++) {
      const r = await messages[i]!();
      ports.push(r.type === 'listening' ? r.port : undefined);
    }
    // Downstream first, so every stage's receiver exists before its sender connects.
    for (let i = STAGES.length - 1; i >= 0; i--) children[i]!.send({ nextPort: ports[i + 1] });
    const done = await messages[STAGES.length - 1]!();
    if (done.type !== 'finished') throw new ShimmyError(ErrorCode.DEMO_FAILED, 'the resize stage stopped early', '');
    return summarize(transport, done.frames);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (transport === 'shm') for (const ref of refs) Channel.remove(ref);
  }
}

/**
 * The figures of one run from the resize stage's rows: per frame, when each stage received
 * and sent it (CLOCK_MONOTONIC ms, comparable across processes and pods of one machine).
 */
export function summarize(transport: 'shm' | 'tcp', rows: number[][]): DemoResult {
  const first = Math.min(...rows.map((r) => r[1]!));
  const last = Math.max(...rows.map((r) => r[2 * (STAGES.length - 1) + 1]!));
  const stages: StageLatency[] = STAGES.map((stage, s) => ({
    stage,
    hopP50Us:
      s === 0
        ? NaN
        : pct(
            rows.map((r) => (r[2 * s]! - r[2 * s - 1]!) * 1000),
            50,
          ),
    hopP99Us:
      s === 0
        ? NaN
        : pct(
            rows.map((r) => (r[2 * s]! - r[2 * s - 1]!) * 1000),
            99,
          ),
    workP50Ms: pct(
      rows.map((r) => r[2 * s + 1]! - r[2 * s]!),
      50,
    ),
  }));
  const e2e = rows.map((r) => r[2 * (STAGES.length - 1) + 1]! - r[0]!);
  return {
    transport,
    frames: rows.length,
    fps: rows.length / Math.max(1e-9, (last - first) / 1000),
    endToEndP50Ms: pct(e2e, 50),
    endToEndP99Ms: pct(e2e, 99),
    stages,
  };
}

const f1 = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
const f2 = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(2));

export function formatDemo(results: DemoResult[], opts: DemoOptions): string {
  const lines = [
    `Pipeline: ${STAGES.join(' -> ')}, ${opts.frames} frames of ${opts.width}x${opts.height} RGB (${Math.round(frameBytes(opts.width, opts.height) / 1024)} KiB)${opts.fps ? ` offered at ${opts.fps} fps` : ', unpaced'}`,
    '',
  ];
  const rows = [['TRANSPORT', 'STAGE', 'HOP P50 (us)', 'HOP P99 (us)', 'WORK P50 (ms)']];
  for (const r of results) for (const s of r.stages) rows.push([r.transport, s.stage, f1(s.hopP50Us), f1(s.hopP99Us), f2(s.workP50Ms)]);
  lines.push(table(rows), '');
  const sum = [['TRANSPORT', 'FRAMES', 'FPS', 'END-TO-END P50 (ms)', 'END-TO-END P99 (ms)']];
  for (const r of results) sum.push([r.transport, String(r.frames), f1(r.fps), f2(r.endToEndP50Ms), f2(r.endToEndP99Ms)]);
  lines.push(table(sum));
  return lines.join('\n');
}

export async function runDemo(opts: DemoOptions, progress: (line: string) => void = () => {}): Promise<DemoResult[]> {
  const results: DemoResult[] = [];
  for (const t of opts.transports) {
    progress(`running the pipeline over ${t === 'shm' ? 'Shimmy shared-memory channels' : 'TCP on loopback'}...`);
    results.push(await runOnce(t, opts));
  }
  return results;
}
