/**
 * The consuming side of a stream ring: all consumer instances of one side share one cursor
 * under the ring's read lock, so each message is taken by exactly one of them. A message is
 * copied out before the cursor moves, then handed over; a consumer killed while holding the
 * lock leaves the cursor where it was (it moves once, past all it took) and the next consumer
 * takes the messages.
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
    const out: Array<[Buffer, number]> = [];
    let walked: Walked;
    this.lock.acquire();
    try {
      walked = this.walk(max, localOnly, (idx, len, seq) => {
        out.push([Buffer.from(ring.bytes.subarray(idx + RECORD_HEADER, idx + RECORD_HEADER + len)), seq]);
        return true;
      });
      this.advance(walked);
    } finally {
      this.lock.release();
    }
    if (walked.cursor !== walked.from) ring.space.wakeIfWaiting();
    this.taken += out.length;
    for (const [msg, seq] of out) deliver(msg, seq);
    if (walked.fault !== null) throw walked.fault;
    return out.length;
  }

  /**
   * Under the read lock: walks the records from the shared cursor, up to `max` (and one ring's
   * worth: see SubscriberReader.pollBlocking), offering each to `visit` (its offset in the ring,
   * its length and sequence number), which returns false to stop before it. Moves nothing: the
   * caller stores the cursor it reached (advance()).
   */
  walk(max: number, localOnly: boolean, visit: (idx: number, len: number, seq: number) => boolean): Walked {
    const ring = this.ring;
    const ctl = ring.ctl;
    const words = ring.words;
    const mask = ring.mask;
    const cap = ring.capacity;
    const maxMessage = ring.maxMessage;
    const limit = max < cap >>> 3 ? max : cap >>> 3;
    const from = Atomics.load(ctl, RingWord.sharedCursor);
    let cursor = from;
    let count = 0;
    // The writer never passes the shared cursor, and its tail hint lags the heads by at
    // most a corked batch or a dead writer's last record.
    const tail = Atomics.load(ctl, RingWord.tail);
    const ahead = (cursor - tail) | 0;
    if ((cursor & 7) !== 0 || ahead > cap || ahead < -cap)
      return { from, cursor, count, fault: ring.corrupt(cursor, `shared cursor ${cursor} is unaligned or further than the ring from the tail ${tail}`) };
    while (count < limit) {
      const idx = cursor & mask;
      const head = Atomics.load(words, idx >>> 2);
      if (head === 0 || (localOnly && (head & REMOTE_FLAG) !== 0)) break;
      const len = head & LENGTH_MASK;
      const kind = head >>> 30;
      if (kind === PAD_KIND && len === cap - idx && idx !== 0) {
        cursor = (cursor + len) >>> 0;
        continue;
      }
      if (kind !== RECORD_KIND || len > maxMessage || idx + RECORD_HEADER + len > cap) {
        // Stryker disable next-line StringLiteral: unreachable fallback, badHead() is non-null for every head the inline check rejects
        return { from, cursor, count, fault: ring.corrupt(cursor, ring.badHead(head, idx) ?? `head 0x${head.toString(16)}`) };
      }
      if (!visit(idx, len, words[(idx >>> 2) + 1]!)) break;
      cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
      count++;
    }
    return { from, cursor, count, fault: null };
  }

  /** Under the read lock: moves the shared cursor past what walk() took (the caller wakes writers waiting for room once it has let go of the lock). */
  advance(w: Walked, takenBefore = Atomics.load(this.ring.ctl, RingWord.taken)): void {
    if (w.cursor === w.from) return;
    Atomics.store(this.ring.ctl, RingWord.taken, (takenBefore + w.count) >>> 0);
    Atomics.store(this.ring.ctl, RingWord.sharedCursor, w.cursor);
  }
}

export interface Walked {
  /** The shared cursor the walk started at. */
  from: number;
  /** Where it stopped: past the last record taken (and any pad after it). */
  cursor: number;
  count: number;
  /** The record it stopped at is one no Shimmy writer wrote. */
  fault: ShimmyError | null;
}
