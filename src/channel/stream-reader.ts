/**
 * The consuming side of a stream ring: all consumer instances of one side share one cursor
 * under the ring's read lock, so each message is taken by exactly one of them. A message is
 * copied out before the cursor moves, then handed over; a consumer killed while holding the
 * lock leaves the cursor where it was and the next consumer takes the message.
 */
import { LENGTH_MASK, PAD_FLAG, RingWord, RECORD_HEADER, align8 } from './layout.js';
import type { RecoverableLock } from './lock.js';
import type { RingView } from './ring-view.js';

export class StreamReader {
  taken = 0;

  constructor(
    private readonly ring: RingView,
    private readonly lock: RecoverableLock,
  ) {}

  /** A message is there when the head at the shared cursor is non-zero (layout.ts). */
  hasData(): boolean {
    const ring = this.ring;
    return Atomics.load(ring.words, (Atomics.load(ring.ctl, RingWord.sharedCursor) & ring.mask) >>> 2) !== 0;
  }

  /** Takes up to `max` messages as copies. Never waits longer than the lock. */
  take(max: number, deliver: (message: Buffer, seq: number) => void): number {
    if (!this.hasData()) return 0;
    const ring = this.ring;
    const ctl = ring.ctl;
    const out: Array<[Buffer, number]> = [];
    this.lock.acquire();
    try {
      let cursor = Atomics.load(ctl, RingWord.sharedCursor);
      while (out.length < max) {
        const idx = cursor & ring.mask;
        const head = Atomics.load(ring.words, idx >>> 2);
        if (head === 0) break;
        const len = head & LENGTH_MASK;
        if ((head & PAD_FLAG) !== 0) {
          cursor = (cursor + len) >>> 0;
          Atomics.store(ctl, RingWord.sharedCursor, cursor);
          continue;
        }
        const seq = ring.words[(idx >>> 2) + 1]!;
        out.push([Buffer.from(ring.bytes.subarray(idx + RECORD_HEADER, idx + RECORD_HEADER + len)), seq]);
        cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
        Atomics.store(ctl, RingWord.sharedCursor, cursor);
        Atomics.add(ctl, RingWord.taken, 1);
      }
    } finally {
      this.lock.release();
    }
    if (out.length !== 0) ring.space.wakeIfWaiting();
    this.taken += out.length;
    for (const [msg, seq] of out) deliver(msg, seq);
    return out.length;
  }
}
