/** Running the host's own tools (ip, nsenter, mount, ctr) with errors that say what failed. */
import { execFileSync } from 'node:child_process';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `command` and returns its stdout; a failure is a DEV_CLUSTER error with its stderr. */
export function run(command: string, args: readonly string[], opts: RunOptions = {}): string {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 60_000,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (e.code === 'ENOENT')
      throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${command} is not installed`, 'Run scripts/node-deps.sh (it installs what real nodes need from Debian)');
    const detail = (e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ');
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `${command} ${args.join(' ')} failed${e.status !== undefined ? ` (exit ${e.status})` : ''}: ${detail}`,
      'See the message for the cause',
    );
  }
}

/** Like run, but a failure is ignored (teardown of what may already be gone). */
export function tryRun(command: string, args: readonly string[], opts: RunOptions = {}): boolean {
  try {
    run(command, args, opts);
    return true;
  } catch {
    return false;
  }
}
