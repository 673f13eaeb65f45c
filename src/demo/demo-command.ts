import type { Command } from 'commander';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the paper pipeline (camera -> metadata -> blur/detect -> resize) over shared memory and over TCP')
    .action(async () => {
      const { runDemo } = await import('./pipeline.js');
      await runDemo();
    });
}
