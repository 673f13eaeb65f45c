/**
 * One node agent per node, as the kernel sees it: a System V semaphore in the host's IPC
 * namespace (the agent runs with hostIPC), taken with SEM_UNDO, so the kernel lets go of it
 * the moment the holder's process ends, SIGKILL included. The agent that holds it knows the
 * node's earlier agent is gone, and adopts that agent's durable lander slots at once: the
 * earlier agent ran in another PID namespace, where its pid cannot be checked, and its
 * heartbeat only counts as stopped after the heartbeat timeout.
 */
import { constants } from 'node:os';
import { semLockTry, semRemove } from '../shm/native.js';

/** "SHMA": semaphore keys are apart from segment keys. */
export const AGENT_LOCK_KEY = 0x53484d41;

const { EAGAIN, EIDRM } = constants.errno;

export class AgentLock {
  private id = -1;
  /** Why the last try failed other than by another live holder (the lock is then never held). */
  lastError?: string;

  constructor(private readonly key = AGENT_LOCK_KEY) {}

  /** Whether this process holds the lock, taking it now if it is free (never waits). */
  held(): boolean {
    if (this.id >= 0) return true;
    const got = semLockTry(this.key);
    if (got >= 0) {
      this.id = got;
      delete this.lastError;
    } else if (-got !== EAGAIN && -got !== EIDRM) this.lastError = `semget/semop on key 0x${this.key.toString(16)}: errno ${-got}`;
    return this.id >= 0;
  }

  /** Lets go by removing the semaphore (the next agent makes it again); the kernel would let go when this process ends anyway. */
  release(): void {
    if (this.id < 0) return;
    semRemove(this.id);
    this.id = -1;
  }
}
