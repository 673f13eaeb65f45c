/**
 * Is a participant's process still alive? Within our own PID namespace the kernel answers
 * (kill(pid, 0), zombies counted as dead); across namespaces (pods with hostIPC but their
 * own PID namespace) only the heartbeat can.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export const HEARTBEAT_INTERVAL_MS = 250;
export const HEARTBEAT_TIMEOUT_MS = 5000;

function readPidNamespace(): number {
  try {
    const link = readlinkSync('/proc/self/ns/pid');
    const m = /\[(\d+)\]/.exec(link);
    return m ? Number(m[1]) >>> 0 : 0;
  } catch {
    return 0;
  }
}

export const OWN_PID_NAMESPACE = readPidNamespace();

export type Liveness = 'alive' | 'dead' | 'unknown';

/** Linux's PID_MAX_LIMIT: no process, in any PID namespace, has a larger pid. */
export const PID_MAX_LIMIT = 4_194_304;

export function processLiveness(pid: number, pidNs: number): Liveness {
  if (pid > PID_MAX_LIMIT) return 'dead';
  if (pid <= 0 || pidNs !== OWN_PID_NAMESPACE || OWN_PID_NAMESPACE === 0) return 'unknown';
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X' ? 'dead' : 'alive';
  } catch {
    return 'dead';
  }
}
