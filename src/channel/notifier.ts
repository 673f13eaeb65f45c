/**
 * A futex word plus a count of sleepers: wakers pay a syscall only when someone sleeps.
 * The waiter registers before its last check, so a wake between check and sleep is never
 * lost (the futex value will have changed and FUTEX_WAIT returns at once). This process's
 * registrations are also counted here, so a channel closed (or a process that exits) while a
 * wait is pending takes them back: a count left behind would make every write pay a futex
 * wake for nobody (bench/stale-sleepers.ts).
 */
import { addressOf, futexWaitAsync, futexWaitSync, futexWake } from '../shm/native.js';
import type { Address } from '../shm/native.js';

export class Notifier {
  /** Sleepers this process registered in the shared count and has not taken back. */
  private mine = 0;

  constructor(
    private readonly u32: Uint32Array,
    private readonly notifyIndex: number,
    private readonly waitersIndex: number,
    private readonly word: Address,
    /** False once the segment is detached: touching it then would fault. */
    private readonly attached: () => boolean,
  ) {}

  wakeIfWaiting(): void {
    if (this.attached() && Atomics.load(this.u32, this.waitersIndex) !== 0) {
      Atomics.add(this.u32, this.notifyIndex, 1);
      futexWake(this.word);
    }
  }

  poke(): void {
    if (!this.attached()) return;
    Atomics.add(this.u32, this.notifyIndex, 1);
    futexWake(this.word);
  }

  /** Blocks this thread until `ready()` or the timeout. Returns ready(). */
  waitSync(ready: () => boolean, timeoutMs: number): boolean {
    this.register();
    try {
      const seen = Atomics.load(this.u32, this.notifyIndex);
      if (ready()) return true;
      futexWaitSync(this.word, seen, timeoutMs * 1e6);
      return ready();
    } finally {
      this.unregister();
    }
  }

  /** The same wait on a libuv worker thread; the event loop stays free. */
  async waitAsync(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    this.register();
    try {
      const seen = Atomics.load(this.u32, this.notifyIndex);
      if (ready()) return true;
      await futexWaitAsync(this.word, seen, timeoutMs * 1e6);
      return ready();
    } finally {
      this.unregister();
    }
  }

  /**
   * For a sleeper that waits elsewhere (the replication thread, on a FutexWatcher): registers
   * it, so writers wake the word, and returns the word's value, to watch for a change from.
   * Check for work after this and before sleeping; then sleepEnd().
   */
  sleepBegin(): { address: bigint; value: number } {
    this.register();
    return { address: addressOf(this.word), value: Atomics.load(this.u32, this.notifyIndex) };
  }

  sleepEnd(): void {
    this.unregister();
  }

  /** Takes back this process's registrations of waits still pending (before a detach, or at exit). */
  forget(): void {
    if (this.mine !== 0 && this.attached()) Atomics.sub(this.u32, this.waitersIndex, this.mine);
    this.mine = 0;
  }

  private register(): void {
    Atomics.add(this.u32, this.waitersIndex, 1);
    this.mine++;
  }

  private unregister(): void {
    // Taken back already (forget) when the channel closed while this wait was pending.
    if (this.mine === 0 || !this.attached()) return;
    Atomics.sub(this.u32, this.waitersIndex, 1);
    this.mine--;
  }
}
