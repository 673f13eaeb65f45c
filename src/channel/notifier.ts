/**
 * A futex word plus a count of sleepers: wakers pay a syscall only when someone sleeps.
 * The waiter registers before its last check, so a wake between check and sleep is never
 * lost (the futex value will have changed and FUTEX_WAIT returns at once).
 */
import { futexWaitAsync, futexWaitSync, futexWake } from '../shm/native.js';
import type { Address } from '../shm/native.js';

export class Notifier {
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
    Atomics.add(this.u32, this.waitersIndex, 1);
    try {
      const seen = Atomics.load(this.u32, this.notifyIndex);
      if (ready()) return true;
      futexWaitSync(this.word, seen, timeoutMs * 1e6);
      return ready();
    } finally {
      Atomics.sub(this.u32, this.waitersIndex, 1);
    }
  }

  /** The same wait on a libuv worker thread; the event loop stays free. */
  async waitAsync(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    Atomics.add(this.u32, this.waitersIndex, 1);
    try {
      const seen = Atomics.load(this.u32, this.notifyIndex);
      if (ready()) return true;
      await futexWaitAsync(this.word, seen, timeoutMs * 1e6);
      return ready();
    } finally {
      if (this.attached()) Atomics.sub(this.u32, this.waitersIndex, 1);
    }
  }
}
