import type { Command } from 'commander';
import { ErrorCode, ShimmyError } from '../errors.js';
import { choiceOption, intOption, listOption } from '../terminal/options.js';

/** As in dev-cluster-command.ts. */
const DEFAULT_DEV_CLUSTER_DIR = '.shimmy/dev-cluster';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'the paper pipeline (camera -> metadata -> detect -> blur -> resize), one process (or, with --cluster, one pod) per stage, over shared memory and over TCP',
    )
    .option('--frames <n>', 'frames to send through', intOption('--frames', 10), 300)
    .option('--fps <n>', 'camera rate (0: as fast as the pipeline goes)', intOption('--fps', 0), 30)
    .option('--width <px>', 'frame width', intOption('--width', 64), 640)
    .option('--height <px>', 'frame height', intOption('--height', 64), 480)
    .option('--transports <list>', 'shm, tcp or both', listOption('--transports', choiceOption('--transports', ['shm', 'tcp'] as const)), ['shm', 'tcp'])
    .option('--cluster', 'run each stage as a pod on the dev cluster (`shimmy dev-cluster up`) instead of a local process')
    .option('--dir <dir>', "with --cluster: the dev cluster's state directory", DEFAULT_DEV_CLUSTER_DIR)
    .option('--json', 'print the results as JSON')
    .action(
      async (flags: {
        frames: number;
        fps: number;
        width: number;
        height: number;
        transports: Array<'shm' | 'tcp'>;
        cluster?: boolean;
        dir: string;
        json?: boolean;
      }) => {
        const { runDemo, formatDemo } = await import('./pipeline.js');
        const opts = {
          frames: flags.frames,
          fps: flags.fps,
          width: flags.width - (flags.width % 8),
          height: flags.height - (flags.height % 8),
          transports: flags.transports,
        };
        const progress = (l: string) => console.error(`[demo] ${l}`);
        const results = flags.cluster
          ? await (await import('./cluster.js')).runClusterDemo({ ...opts, dir: flags.dir }, progress)
          : await runDemo(opts, progress);
        console.log(flags.json ? JSON.stringify(results, null, 2) : formatDemo(results, opts));
      },
    );

  // One stage of `demo --cluster`, run by its pod; not for people.
  program
    .command('demo-stage', { hidden: true })
    .description('one stage of `shimmy demo --cluster`, as its pod runs it')
    .requiredOption('--config <json>', 'the stage config (src/demo/stage-pod.ts)')
    .action(async (flags: { config: string }) => {
      const { runPodStage } = await import('./stage-pod.js');
      let cfg: Parameters<typeof runPodStage>[0];
      try {
        cfg = JSON.parse(flags.config) as typeof cfg;
      } catch (err) {
        throw new ShimmyError(
          ErrorCode.INVALID_ARGUMENT,
          `--config is not JSON: ${(err as Error).message}`,
          'Pass the config `shimmy demo --cluster` writes into the pod',
        );
      }
      await runPodStage(cfg);
    });
}
