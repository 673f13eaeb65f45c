/**
 * A stage of `shimmy demo --cluster` as a pod: `shimmy demo-stage --config JSON`. Its hop
 * channels come from the SHIMMY_* environment the webhook injected (shm); the next stage's
 * pod IP comes in the config, as the orchestrator creates pods downstream first (tcp). It
 * reports as JSON lines on stdout, which the orchestrator reads from the pod's log.
 */
import { runStage, type Address, type Coordinator, type StageConfig, type StageReport } from './stage.js';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface PodStageConfig extends StageConfig {
  /** tcp: the next stage's pod IP and port. */
  next?: Address;
}

/** The port a tcp stage listens on in its pod (all addresses). */
export const STAGE_PORT = 7400;
/** The resize stage's timing rows go out this many to a line, so no log line grows large. */
const ROWS_PER_LINE = 100;

/** A report as the lines the pod prints. */
export function encodeReport(r: StageReport): string[] {
  if (r.type !== 'finished') return [JSON.stringify(r)];
  const lines: string[] = [];
  for (let i = 0; i < r.frames.length; i += ROWS_PER_LINE) lines.push(JSON.stringify({ type: 'rows', frames: r.frames.slice(i, i + ROWS_PER_LINE) }));
  lines.push(JSON.stringify({ type: 'finished', count: r.frames.length }));
  return lines;
}

/** The reports in a pod's log (other lines, such as an error on stderr, are skipped). */
export function decodeReports(log: string): StageReport[] {
  const reports: StageReport[] = [];
  let rows: number[][] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{"type":')) continue;
    let r: { type: string; port?: number; frames?: number[][]; count?: number; message?: string };
    try {
      r = JSON.parse(line) as typeof r;
    } catch {
      continue;
    }
    if (r.type === 'rows') rows.push(...(r.frames ?? []));
    else if (r.type === 'finished') {
      if (rows.length !== r.count)
        throw new ShimmyError(
          ErrorCode.DEMO_FAILED,
          `the log holds ${rows.length} of the ${r.count} timing rows`,
          'Run the demo again; the pod log may have been cut',
        );
      reports.push({ type: 'finished', frames: rows });
      rows = [];
    } else if (r.type === 'listening') reports.push(r.port === undefined ? { type: 'listening' } : { type: 'listening', port: r.port });
    else if (r.type === 'error') reports.push({ type: 'error', message: String(r.message) });
  }
  return reports;
}

export async function runPodStage(cfg: PodStageConfig): Promise<void> {
  const stdout: Coordinator = {
    report(r) {
      for (const line of encodeReport(r)) process.stdout.write(`${line}\n`);
    },
    async nextHop() {
      return cfg.next;
    },
  };
  await runStage(cfg, stdout);
}
