/** Running the host's own tools (ip, nsenter, mount, ctr) with errors that say what failed. */
import { execFile, execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** The DEV_CLUSTER error for a command that failed: its exit status and last lines of output. */
function commandError(command: string, args: readonly string[], err: NodeJS.ErrnoException, output: string, status?: number | null): ShimmyError {
  if (err.code === 'ENOENT')
    return new ShimmyError(ErrorCode.DEV_CLUSTER, `${command} is not installed`, 'Install it; scripts/node-deps.sh installs what real nodes need from Debian');
  const detail = (output || err.message).trim().split('\n').slice(-5).join(' | ');
  return new ShimmyError(
    ErrorCode.DEV_CLUSTER,
    `${basename(command)} ${args.join(' ')} failed${typeof status === 'number' ? ` (exit ${status})` : ''}: ${detail}`,
    'Run the failing command by hand to see its whole output',
    { cause: err },
  );
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
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number | null };
    throw commandError(command, args, e, e.stderr ?? '', e.status);
  }
}

/** Like run, without blocking the event loop (long builds); resolves with stdout and stderr. */
export function runAsync(command: string, args: readonly string[], opts: RunOptions & { cwd?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: string | number };
        reject(commandError(command, args, e, stderr || stdout, typeof e.code === 'number' ? e.code : undefined));
      },
    );
  });
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
