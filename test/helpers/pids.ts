/** Process ids with a known fate, for liveness tests: one that is gone, one that is a zombie. */
import { readFileSync } from 'node:fs';
import { startProgram, type Proc } from './proc.js';
import { until } from './wait.js';

/** The pid of a child process that has exited and been reaped: kill(pid, 0) fails with ESRCH. */
export async function deadPid(): Promise<number> {
  const p = startProgram(process.execPath, ['-e', '']);
  await p.exited;
  return p.child.pid!;
}

/** The one-letter state of a process as /proc/<pid>/stat shows it, or null when it has none. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return null;
  }
}

/**
 * A zombie: a child of `sh` that exited and that its parent (which exec'd into `sleep`) never
 * reaps. It stays a zombie until `parent` is killed (killStarted() does that).
 */
export async function zombie(): Promise<{ pid: number; parent: Proc }> {
  const parent = startProgram('/bin/sh', ['-c', 'sleep 0 & echo $!; exec sleep 60']);
  await parent.waitFor(/^\d+\n/);
  const pid = Number(parent.stdout().trim());
  await until(() => procState(pid) === 'Z', `pid ${pid} to become a zombie`);
  return { pid, parent };
}
