/** Detached child processes that outlive `dev-cluster up`, with their logs in files. */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ErrorCode, ShimmyError } from '../errors.js';

export function startDetached(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new ShimmyError(ErrorCode.DEV_CLUSTER, `Could not start ${command}`, 'Check that the file exists and is executable');
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Polls `check` until it returns true; the error names what was awaited and where its log is. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, opts: { pid?: number; log?: string } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (opts.pid !== undefined && !isAlive(opts.pid))
      throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${what} exited during start-up`, `Its log says why: ${opts.log ?? 'see its log'}`);
    if (Date.now() > deadline)
      throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${what} was not ready after ${timeoutMs / 1000} s`, `Its log says why: ${opts.log ?? 'see its log'}`);
    await sleep(100);
  }
}
