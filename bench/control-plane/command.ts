import type { Command } from 'commander';
import { intOption } from '../../src/terminal/options.js';
import type { ControlPlaneBenchFlags } from './control-plane-bench.js';

export function registerControlPlaneBenchCommand(program: Command): void {
  program
    .command('bench-control-plane')
    .description('admission and scheduler-extender latency at a fixed request rate (autocannon on loopback), on a synthetic cluster')
    .option('--admission-rate <n>', 'AdmissionReviews per second', intOption('--admission-rate', 1), 500)
    .option('--extender-rate <n>', 'filter or prioritize calls per second', intOption('--extender-rate', 1), 200)
    .option('--seconds <n>', 'measured seconds per scenario', intOption('--seconds', 1), 10)
    .option('--warmup <n>', 'unmeasured seconds before each scenario', intOption('--warmup', 0), 2)
    .option('--nodes <n>', 'nodes in the synthetic cluster', intOption('--nodes', 1), 1000)
    .option('--pods <n>', 'injected pods in the synthetic cluster', intOption('--pods', 1), 10000)
    .option('--channels <n>', 'channels in the namespace', intOption('--channels', 1), 500)
    .option('--repeat <n>', 'run every scenario N times and report the median of each percentile, with the p99 range', intOption('--repeat', 1), 1)
    .option('--json <file>', 'also write the figures as JSON (with every run when repeated)')
    .action(async (flags: ControlPlaneBenchFlags) => {
      // Loaded on use: autocannon and the controller's modules would slow every command's start.
      const { runControlPlaneBench } = await import('./control-plane-bench.js');
      await runControlPlaneBench(flags);
    });
}
