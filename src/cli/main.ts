/**
 * `shimmy`: the operator's and script's command line. Errors print one line,
 * "shimmy: <what went wrong>. <what to do>", and exit non-zero.
 */
import { Command, CommanderError } from 'commander';
import { ErrorCode, ShimmyError } from '../errors.js';
import { describeApiError } from '../k8s/api-errors.js';
import { registerChannelCommands } from './channel-commands.js';
import { registerPubCommand } from './pub-command.js';
import { registerSubCommand } from './sub-command.js';
import { registerStreamCommands } from './stream-commands.js';
import { registerBenchCommand } from '../../bench/bench-command.js';
import { registerControlPlaneBenchCommand } from '../../bench/control-plane/command.js';
import { registerDemoCommand } from '../demo/demo-command.js';
import { registerControllerCommand } from './controller-command.js';
import { registerAgentCommand } from './agent-command.js';
import { registerDevClusterCommand } from './dev-cluster-command.js';
import { registerManifestsCommand } from './manifests-command.js';

export function buildProgram(): Command {
  const program = new Command('shimmy')
    .description('Shared-memory channels for Kubernetes containers')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerChannelCommands(program);
  registerPubCommand(program);
  registerSubCommand(program);
  registerStreamCommands(program);
  registerBenchCommand(program);
  registerControlPlaneBenchCommand(program);
  registerDemoCommand(program);
  registerControllerCommand(program);
  registerAgentCommand(program);
  registerDevClusterCommand(program);
  registerManifestsCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ShimmyError) {
      console.error(`shimmy: ${err.message} [${err.code}]`);
      return 1;
    }
    const api = describeApiError(err);
    if (api) {
      console.error(`shimmy: ${api}. Check the kubeconfig and the API server [${ErrorCode.KUBERNETES_API}]`);
      return 1;
    }
    if (typeof (err as NodeJS.ErrnoException)?.syscall === 'string') {
      // A system error (a port in use, a missing file) says enough without a stack.
      console.error(`shimmy: ${(err as Error).message}`);
      return 1;
    }
    console.error(`shimmy: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}
