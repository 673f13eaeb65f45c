/**
 * Is a participant's process still alive? Within our own PID namespace the kernel answers
 * (kill(pid, 0), zombies counted as dead, a reused pid told apart by its start time); across
 * namespaces (pods with hostIPC but their own PID namespace) only the heartbeat can.
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

/** The fields of /proc/PID/stat after the command name: state first, starttime 20th. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** When `pid` started, in clock ticks since boot, mod 2^32; 0 when unknown. With the pid it names one process: pids are reused, start times are not. */
export function processStartTime(pid: number): number {
  try {
    return Number(statFields(pid)[19]) >>> 0;
  } catch {
    return 0;
  }
}

export const OWN_START_TIME = processStartTime(process.pid);

/** `startTime`: what the participant recorded (0: not recorded); another start time under that pid is another process. */
export function processLiveness(pid: number, pidNs: number, startTime = 0): Liveness {
  if (pid > PID_MAX_LIMIT) return 'dead';
  if (pid <= 0 || pidNs !== OWN_PID_NAMESPACE || OWN_PID_NAMESPACE === 0) return 'unknown';
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
  try {
    const fields = statFields(pid);
    if (fields[0] === 'Z' || fields[0] === 'X') return 'dead';
    return startTime !== 0 && Number(fields[19]) >>> 0 !== startTime ? 'dead' : 'alive';
  } catch {
    return 'dead';
  }
}
