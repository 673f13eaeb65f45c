import type { Command } from 'commander';
import { choiceOption, intOption, listOption } from '../cli/options.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the paper pipeline (camera -> metadata -> detect -> blur -> resize), one process per stage, over shared memory and over TCP')
    .option('--frames <n>', 'frames to send through', intOption('--frames', 10), 300)
    .option('--fps <n>', 'camera rate (0: as fast as the pipeline goes)', intOption('--fps', 0), 30)
    .option('--width <px>', 'frame width', intOption('--width', 64), 640)
    .option('--height <px>', 'frame height', intOption('--height', 64), 480)
    .option('--transports <list>', 'shm, tcp or both', listOption('--transports', choiceOption('--transports', ['shm', 'tcp'] as const)), ['shm', 'tcp'])
    .option('--json', 'print the results as JSON')
    .action(async (flags: { frames: number; fps: number; width: number; height: number; transports: Array<'shm' | 'tcp'>; json?: boolean }) => {
      const { runDemo, formatDemo } = await import('./pipeline.js');
      const opts = { frames: flags.frames, fps: flags.fps, width: flags.width - (flags.width % 8), height: flags.height - (flags.height % 8), transports: flags.transports };
      const results = await runDemo(opts, (l) => console.error(`[demo] ${l}`));
      console.log(flags.json ? JSON.stringify(results, null, 2) : formatDemo(results, opts));
    });
}
