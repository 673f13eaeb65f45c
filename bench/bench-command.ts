import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { intOption, listOption } from '../src/terminal/options.js';
import { table } from '../src/terminal/table.js';
import { parseSize } from '../src/size.js';
import { renderChart } from './chart.js';
import { benchTransportNames, runBench, type BenchRow } from './runner.js';

interface BenchFlags {
  repeat: number;
  transports: string[];
  sizes: number[];
  counts: number[];
  json?: string;
  chart?: string;
  budget: number;
  latencySamples: number;
  remote?: boolean;
}

/** The table of rows, then a legend line: how each transport's receiver waits for messages. */
export function formatRows(rows: BenchRow[]): string {
  const repeated = rows.some((r) => r.runs !== undefined);
  const lines = [['TRANSPORT', 'SIZE', 'COUNT', 'MSG/S', ...(repeated ? ['MSG/S MIN..MAX'] : []), 'MB/S', 'P50 US', 'P99 US', 'P99.9 US', 'DELIVERED']];
  const n = (v: number | undefined) => (v ?? 0).toLocaleString('en-US');
  const us = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '-' : String(v));
  for (const r of rows) {
    const range = repeated ? [r.runs ? `${n(r.minMsgsPerSec)}..${n(r.maxMsgsPerSec)}` : '-'] : [];
    if (r.skipped || r.error) {
      lines.push([r.transport, String(r.size), String(r.count), r.skipped ? 'skipped' : 'error', ...range, '-', '-', '-', '-', r.skipped ?? r.error ?? '']);
      continue;
    }
    lines.push([
      r.transport,
      String(r.size),
      String(r.count),
      n(r.msgsPerSec),
      ...range,
      String(r.mbPerSec),
      us(r.p50Us),
      us(r.p99Us),
      us(r.p999Us),
      `${r.delivered}${r.truncated ? '*' : ''}`,
    ]);
  }
  const idle = new Map<string, string>();
  for (const r of rows) if (r.idle && !idle.has(r.transport)) idle.set(r.transport, r.idle);
  const legend = idle.size ? `\nReceivers wait by: ${[...idle].map(([t, how]) => `${t} ${how}`).join('; ')}` : '';
  return table(lines) + legend;
}

/** Row by row, the run with the median throughput, with the spread over all runs. */
export function medianRows(runs: BenchRow[][]): BenchRow[] {
  return runs[0]!.map((_, i) => {
    const same = runs.map((rows) => rows[i]!).filter((r) => !r.skipped && !r.error);
    if (same.length === 0) return runs[0]![i]!;
    const sorted = [...same].sort((a, b) => a.msgsPerSec - b.msgsPerSec);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    return { ...median, runs: same.length, minMsgsPerSec: sorted[0]!.msgsPerSec, maxMsgsPerSec: sorted.at(-1)!.msgsPerSec };
  });
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('throughput and latency of shared memory against sockets and brokers, measured in one run')
    .option(
      '--transports <list>',
      `comma-separated, from ${benchTransportNames().join(',')}`,
      listOption('--transports', (t) => {
        const names = benchTransportNames();
        if (!names.includes(t)) throw new Error(`unknown transport ${t} (known: ${names.join(', ')})`);
        return t;
      }),
      benchTransportNames(),
    )
    .option(
      '--sizes <list>',
      'message sizes',
      listOption('--sizes', (s) => parseSize(s, '--sizes')),
      [16, 102400],
    )
    .option(
      '--counts <list>',
      'messages per throughput run',
      listOption('--counts', (c) => parseSize(c.replace(/k$/i, '000').replace(/m$/i, '000000'), '--counts')),
      [10_000, 100_000, 1_000_000],
    )
    .option('--json <file>', 'write JSON lines (one object per run) to FILE, or - for stdout')
    .option('--chart <file>', 'write an SVG chart of throughput (msg/s) and latency (p50, p99) per size, log scales')
    .option('--budget <seconds>', 'time budget per throughput run; the publisher stops there (marked * in DELIVERED)', intOption('--budget', 1), 15)
    .option('--latency-samples <n>', 'round trips per latency run', intOption('--latency-samples', 10), 10_000)
    .option(
      '--remote',
      "across two hosts (network namespaces joined by a veth pair; root): brokers and publishers on one, subscribers on the other, Shimmy replicated by the agents' node replicator over UCX; with the raw link measured by ucx_perftest in the same run",
    )
    .option('--repeat <n>', 'run the matrix N times and report the median of each row (min and max in the JSON)', intOption('--repeat', 1), 1)
    .addHelpText(
      'after',
      "\nPeers (Mosquitto, NATS, Redis, Kafka) are started by the benchmark on free loopback ports;\ninstall them once with `bash bench/peers/setup.sh`, which also sets up the external\npeers' programs. Latency is one-way: half a ping-pong round trip. Every receiver reads\nevery byte (a checksum the runner checks against the publisher's). shm busy-polls, shm-sleep\nsleeps on a futex while idle; shm-single publishes one message per call (tryPublish, each visible at once); bare-ring is a bare ring in a segment with no protocol, the floor.",
    )
    .action(async (flags: BenchFlags, cmd: Command) => {
      const jsonToStdout = flags.json === '-';
      const progress = (line: string) => console.error(`[bench] ${line}`);
      if (flags.remote && process.getuid?.() !== 0) cmd.error('shimmy: bench --remote makes two network namespaces: run it as root', { exitCode: 2 });
      const remote = flags.remote ? await import('./remote/remote-bench.js') : undefined;
      const placement = remote?.openPlacement();
      // An interrupted remote run takes its two hosts, and what runs on them, down with it.
      if (placement)
        for (const signal of ['SIGINT', 'SIGTERM'] as const)
          process.once(signal, () => {
            placement.close();
            process.exit(signal === 'SIGINT' ? 130 : 143);
          });
      const transports =
        placement && cmd.getOptionValueSource('transports') === 'default'
          ? flags.transports.filter((t) => placement.unsupported(t) === null)
          : flags.transports;
      const options = {
        transports,
        sizes: flags.sizes,
        counts: flags.counts,
        budgetMs: flags.budget * 1000,
        latencySamples: flags.latencySamples,
        latencyBudgetMs: 5000,
      };
      const runs: BenchRow[][] = [];
      try {
        for (let r = 1; r <= flags.repeat; r++) {
          if (flags.repeat > 1) progress(`repetition ${r} of ${flags.repeat}`);
          const measured = await runBench(options, progress, placement);
          runs.push(placement ? [...(await remote!.rawLinkRows(placement, flags.sizes, progress)), ...measured] : measured);
        }
      } finally {
        placement?.close();
      }
      const rows = flags.repeat > 1 ? medianRows(runs) : runs[0]!;
      const jsonLines = rows.map((row) => JSON.stringify(row));
      if (jsonToStdout) for (const line of jsonLines) console.log(line);
      if (flags.json && !jsonToStdout) writeFileSync(flags.json, jsonLines.join('\n') + '\n');
      if (flags.chart) writeFileSync(flags.chart, renderChart(rows));
      if (!jsonToStdout) {
        console.log(formatRows(rows));
        if (rows.some((r) => r.truncated))
          console.log(`* the publisher reached the ${flags.budget}s time budget before COUNT; rates are over what was delivered`);
        if (remote) console.log(remote.targetLines(rows));
      }
    });
}
