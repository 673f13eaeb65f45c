/**
 * The consuming side of a stream ring: all consumer instances of one side share one cursor
 * under the ring's read lock, so each message is taken by exactly one of them. A message is
 * copied out before the cursor moves, then handed over; a consumer killed while holding the
 * lock leaves the cursor where it was and the next consumer takes the message.
 */
import type { ShimmyError } from '../errors.js';
import { LENGTH_MASK, REMOTE_FLAG, RingWord, RECORD_HEADER, align8 } from './layout.js';
import type { RecoverableLock } from './lock.js';
import { PAD_KIND, RECORD_KIND, type RingView } from './ring-view.js';

export class StreamReader {
  taken = 0;

  constructor(
    private readonly ring: RingView,
    private readonly lock: RecoverableLock,
  ) {}

  /** A message is there when the head at the shared cursor is non-zero (layout.ts); `localOnly`: and not landed from another node. */
  hasData(localOnly = false): boolean {
    const ring = this.ring;
    const head = Atomics.load(ring.words, (Atomics.load(ring.ctl, RingWord.sharedCursor) & ring.mask) >>> 2);
    return head !== 0 && !(localOnly && (head & REMOTE_FLAG) !== 0);
  }

  /**
   * Takes up to `max` messages as copies. Never waits longer than the lock. A record no
   * Shimmy writer could have written ends the call with CORRUPT_RING, after the lock is
   * released and the messages taken before it are delivered. `localOnly` (the node agent) stops
   * at the first message landed from another node: that one is for this node's consumers.
   */
  take(max: number, deliver: (message: Buffer, seq: number) => void, localOnly = false): number {
    if (!this.hasData()) return 0;
    const ring = this.ring;
    const ctl = ring.ctl;
    const words = ring.words;
    const mask = ring.mask;
    const cap = ring.capacity;
    const maxMessage = ring.maxMessage;
    // At most one ring's worth of records per call (see SubscriberReader.pollBlocking).
    const limit = max < cap >>> 3 ? max : cap >>> 3;
    const out: Array<[Buffer, number]> = [];
    let fault: ShimmyError | null = null;
    this.lock.acquire();
    try {
      let cursor = Atomics.load(ctl, RingWord.sharedCursor);
      // The writer never passes the shared cursor, and its tail hint lags the heads by at
      // most a corked batch or a dead writer's last record.
      const tail = Atomics.load(ctl, RingWord.tail);
      const ahead = (cursor - tail) | 0;
      if ((cursor & 7) !== 0 || ahead > cap || ahead < -cap) {
        fault = ring.corrupt(cursor, `shared cursor ${cursor} is unaligned or further than the ring from the tail ${tail}`);
      }
      while (fault === null && out.length < limit) {
        const idx = cursor & mask;
        const head = Atomics.load(words, idx >>> 2);
        if (head === 0 || (localOnly && (head & REMOTE_FLAG) !== 0)) break;
        const len = head & LENGTH_MASK;
        const kind = head >>> 30;
        if (kind === PAD_KIND && len === cap - idx && idx !== 0) {
          cursor = (cursor + len) >>> 0;
          Atomics.store(ctl, RingWord.sharedCursor, cursor);
          continue;
        }
        if (kind !== RECORD_KIND || len > maxMessage || idx + RECORD_HEADER + len > cap) {
          // Stryker disable next-line StringLiteral: unreachable fallback, badHead() is non-null for every head the inline check rejects
          fault = ring.corrupt(cursor, ring.badHead(head, idx) ?? `head 0x${head.toString(16)}`);
          break;
        }
        const seq = words[(idx >>> 2) + 1]!;
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
    if (fault !== null) throw fault;
    return out.length;
  }
}
