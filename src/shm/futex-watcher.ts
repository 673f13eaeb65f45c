/**
 * A thread (in libshimmy) that sleeps on several futex words at once and makes its `fd`
 * readable once one of them changes: a loop that sleeps in poll(2) on its sockets (the
 * replication thread, on its UCX worker) also wakes for a write into a ring it watches.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { watcherArm, watcherCreate, watcherDestroy, watcherDisarm, watcherError, watcherFd, type Address } from './native.js';

/** The most words one arm() watches (SHIMMY_WATCH_MAX). */
export const WATCH_MAX = 64;

export class FutexWatcher {
  readonly fd: number;
  private handle: Address | null;
  private readonly addrs = new BigUint64Array(WATCH_MAX);
  private readonly values = new Uint32Array(WATCH_MAX);

  constructor() {
    const w = watcherCreate();
    if (typeof w === 'number')
      throw new ShimmyError(ErrorCode.SYSCALL_FAILED, `libshimmy could not start its futex watcher (errno ${-w})`, 'Check the process limits on threads');
    this.handle = w;
    this.fd = watcherFd(w);
  }

  /** Watches each word for a change from the value given (at most WATCH_MAX; more are not watched). */
  arm(words: readonly { address: bigint; value: number }[]): void {
    const n = Math.min(words.length, WATCH_MAX);
    for (let i = 0; i < n; i++) {
      this.addrs[i] = words[i]!.address;
      this.values[i] = words[i]!.value;
    }
    watcherArm(this.live(), this.addrs, this.values, n);
  }

  /** Stops watching and takes back a signal not yet read from `fd`. */
  disarm(): void {
    watcherDisarm(this.live());
  }

  /** Why the watcher cannot wait (it then never signals: the caller's poll times out as before), or null. */
  failure(): string | null {
    const errno = watcherError(this.live());
    return errno === 0 ? null : `futex_waitv failed with errno ${errno} (it needs Linux 5.16, and a seccomp profile that allows it)`;
  }

  close(): void {
    if (this.handle === null) return;
    watcherDestroy(this.handle);
    this.handle = null;
  }

  private live(): Address {
    if (this.handle === null) throw new ShimmyError(ErrorCode.CLOSED, 'The futex watcher is closed', 'Make a new one');
    return this.handle;
  }
}
