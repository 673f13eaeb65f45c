/**
 * A stage of the local demo as a child process: pipeline.ts forks this script with the
 * stage's JSON config in argv[2]; reports and the next hop go over Node IPC.
 */
import { runStage, type Coordinator, type StageConfig, type StageReport } from './stage.js';

const report = (r: StageReport) => process.send!(r);

const ipc: Coordinator = {
  report,
  async nextHop() {
    const next = (await new Promise((resolve) => process.once('message', resolve))) as { nextPort?: number };
    return next.nextPort === undefined ? undefined : { host: '127.0.0.1', port: next.nextPort };
  },
};

// Never outlive the parent: it may have been killed without cleaning up.
process.on('disconnect', () => process.exit(1));

runStage(JSON.parse(process.argv[2]!) as StageConfig, ipc).then(
  () => setTimeout(() => process.exit(0), 20),
  (err: Error) => {
    report({ type: 'error', message: err?.stack ?? String(err) });
    setTimeout(() => process.exit(1), 20);
  },
);
