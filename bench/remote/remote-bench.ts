/**
 * What `shimmy bench --remote` adds to the benchmark: the two hosts (placement.ts), the raw
 * link's rows measured by `ucx_perftest` in the same run, and the targets checked
 * against the figures (16 B: Shimmy at least 10x NATS; 100 KB: within 2x of the raw link's
 * bandwidth; one-way p50 within 2x of the raw link's).
 */
import type { BenchRow } from '../runner.js';
import { perftest } from '../ucx/perftest.js';
import { RemotePlacement } from './placement.js';

export const RAW_LINK = 'ucx_perftest';

export function openPlacement(): RemotePlacement {
  return new RemotePlacement();
}

/** ucx_perftest over the same veth (UCX_TLS=tcp): one-way latency (tag_lat) and a streaming sender (tag_bw) per size. */
export async function rawLinkRows(placement: RemotePlacement, sizes: number[], progress: (line: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const size of sizes) {
    const count = size < 4096 ? 1_000_000 : 10_000;
    // Final line: iterations, typical latency (us), average, overall, MB/s average, MB/s overall, msg/s average, msg/s overall.
    const lat = await perftest(placement.pair, 'tag_lat', size, 20_000);
    const bw = await perftest(placement.pair, 'tag_bw', size, count);
    const row: BenchRow = {
      transport: RAW_LINK,
      size,
      count,
      msgsPerSec: Math.round(bw[7]!),
      mbPerSec: Number(bw[5]!.toFixed(1)),
      p50Us: Number(lat[1]!.toFixed(2)),
      p99Us: NaN,
      p999Us: NaN,
      idle: 'busy-poll (UCX)',
      delivered: count,
    };
    progress(`${RAW_LINK} ${size} B: ${row.msgsPerSec.toLocaleString('en-US')} msg/s, ${row.mbPerSec} MB/s, typical one-way ${row.p50Us} us`);
    rows.push(row);
  }
  return rows;
}

/** The targets, each with the figures it is checked on: one line per size measured. */
export function targetLines(rows: BenchRow[]): string {
  const best = (transport: string, size: number) =>
    rows.filter((r) => r.transport === transport && r.size === size && !r.error && !r.skipped).sort((a, b) => b.count - a.count)[0];
  const times = (x: number) => `${x.toFixed(2)}x`;
  const lines = ['', 'Across the link (targets in brackets):'];
  for (const size of [...new Set(rows.map((r) => r.size))]) {
    const shm = ['shm', 'shm-sleep']
      .map((t) => best(t, size))
      .filter((r) => r !== undefined)
      .sort((a, b) => b.msgsPerSec - a.msgsPerSec)[0];
    const [nats, raw] = [best('nats', size), best(RAW_LINK, size)];
    if (!shm) continue;
    const parts: string[] = [];
    if (nats) parts.push(`throughput ${times(shm.msgsPerSec / nats.msgsPerSec)} NATS's${size < 4096 ? ' [>= 10x]' : ''}`);
    if (raw) parts.push(`bandwidth ${times(shm.mbPerSec / raw.mbPerSec)} the raw link's${size >= 4096 ? ' [>= 0.5x]' : ''}`);
    if (raw && Number.isFinite(shm.p50Us)) parts.push(`one-way p50 ${times(shm.p50Us / raw.p50Us)} the raw link's [<= 2x]`);
    lines.push(`  ${size} B: Shimmy (${shm.transport}) ${parts.join('; ')}`);
  }
  return lines.join('\n');
}
