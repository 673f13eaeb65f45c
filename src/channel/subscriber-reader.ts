/**
 * One subscriber's cursor on a pub/sub ring. A record is there when its head word is
 * non-zero (layout.ts), so readers never touch the writer's cache line in the common case.
 * With the block policy the writer never passes the slowest cursor, so records can be handed
 * out as views in place. With the overwrite policy the writer may lap us: each record is
 * copied out and then validated against `tailIntent` (a seqlock-style check); a lapped
 * reader resumes at the newest intact record and counts the sequence numbers it skipped as
 * lost.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { LENGTH_MASK, REMOTE_FLAG, RingWord, RECORD_HEADER, align8 } from './layout.js';
import { SlotWord, SlotState } from './participants.js';
import { PAD_KIND, RECORD_KIND, type RingView } from './ring-view.js';
import type { RecordBatch } from './record-batch.js';

/** A reader's place in its ring: the byte position and the sequence number expected there. */
export interface ReaderPosition {
  cursor: number;
  expectedSeq: number;
}

/**
 * Receives one message: `bytes[offset .. offset+length)`; valid only during the call. `remote`:
 * the node agent landed it from another node.
 */
export type MessageHandler = (bytes: Uint8Array, offset: number, length: number, seq: number, remote?: boolean) => void;

const HEARTBEAT_EVERY_POLLS = 1024;

function reclaimed(): ShimmyError {
  return new ShimmyError(
    ErrorCode.CLOSED,
    'This subscriber was declared dead and its slot reclaimed (no heartbeat for too long)',
    'Subscribe again; keep the event loop or poll loop turning so heartbeats continue',
  );
}

export class SubscriberReader {
  cursor: number;
  lost = 0;
  delivered = 0;
  private expectedSeq: number;
  private polls = 0;
  /** Block policy: where the cursor was when it was last checked against the tail. */
  private checkpoint: number;
  /** What a poll found that no Shimmy writer wrote, raised as CORRUPT_RING once its progress is published. */
  private fault: string | null = null;
  private faultAt = 0;
  private readonly scratch: Uint8Array | null;
  /** Overwrite policy: where pollBatch() copies records to, allocated on first use. */
  private arena: Uint8Array | null = null;
  /** Block policy: records a pollBatch() handed out whose ring space is not yet released. */
  private held = 0;
  /** Block policy: the next batch poll() steps over (skipWhenAt), or -1; the ones after it, flat (from, to, count). */
  private skipFrom = -1;
  private skipTo = 0;
  private skipCount = 0;
  private readonly skips: number[] = [];
  private readonly gen: number;

  /** `adopted`: the slot is a durable one an earlier owner left; reading goes on from where that owner's progress stands. */
  constructor(
    private readonly ring: RingView,
    readonly slot: number,
    adopted = false,
  ) {
    const t = ring.table;
    this.gen = t.word(slot, SlotWord.gen);
    if (adopted) {
      this.cursor = t.word(slot, SlotWord.cursor);
      this.expectedSeq = t.word(slot, SlotWord.expectedSeq);
    } else {
      // A subscriber gets what is published after it joined: start at the committed end.
      // The slot went active with the tail read at claim time; looking again now that writers
      // see us means nothing between the two looks can be overwritten before we read it.
      const end = ring.committedEnd();
      this.cursor = end.pos;
      this.expectedSeq = end.nextSeq;
    }
    this.checkpoint = this.cursor;
    t.setWord(slot, SlotWord.cursor, this.cursor);
    t.setWord(slot, SlotWord.expectedSeq, this.expectedSeq);
    this.scratch = ring.blocking ? null : new Uint8Array(ring.maxMessage);
  }

  /** Where reading goes on: past everything polled, held records included. */
  position(): ReaderPosition {
    return { cursor: this.cursor, expectedSeq: this.ring.blocking ? (this.expectedSeq + this.held) >>> 0 : this.expectedSeq };
  }

  /**
   * Skips forward to `to`, a position this reader had read up to (held, not yet released,
   * when its earlier owner died). False, and nothing moves, unless `to` is a record boundary
   * between the cursor and the committed end.
   */
  resumeAt(to: ReaderPosition): boolean {
    if (this.held !== 0 || (to.cursor & 7) !== 0) return false;
    const end = this.ring.committedEnd();
    if ((to.cursor - this.cursor) >>> 0 > (end.pos - this.cursor) >>> 0) return false;
    for (let at = this.cursor, steps = this.ring.capacity >>> 3; at !== to.cursor; steps--) {
      const idx = at & this.ring.mask;
      const head = Atomics.load(this.ring.words, idx >>> 2);
      if (steps === 0 || head === 0 || this.ring.badHead(head, idx) !== null) return false;
      const len = head & LENGTH_MASK;
      at = (at + (head >>> 30 === PAD_KIND ? len : RECORD_HEADER + align8(len))) >>> 0;
    }
    this.cursor = to.cursor;
    this.checkpoint = to.cursor;
    this.expectedSeq = to.expectedSeq;
    this.ring.table.setWord(this.slot, SlotWord.cursor, this.cursor);
    this.ring.table.setStat(this.slot, SlotWord.expectedSeq, this.expectedSeq);
    if (this.ring.blocking) this.ring.space.wakeIfWaiting();
    return true;
  }

  /**
   * Block policy: `count` records from `from` up to `to`, a batch landed from a peer, which
   * poll() steps over without handing them to its handler once it gets there: the node agent's
   * own subscriber forwards nothing landed, and its lander tells it where each batch went.
   */
  skipWhenAt(from: number, to: number, count: number): void {
    if (!this.ring.blocking) return;
    this.skips.push(from, to, count);
    if (this.skipFrom < 0) this.nextSkip();
  }

  private nextSkip(): void {
    if (this.skips.length === 0) {
      this.skipFrom = -1;
      return;
    }
    this.skipFrom = this.skips.shift()!;
    this.skipTo = this.skips.shift()!;
    this.skipCount = this.skips.shift()!;
  }

  hasData(): boolean {
    if (Atomics.load(this.ring.words, (this.cursor & this.ring.mask) >>> 2) !== 0) return true;
    return !this.ring.blocking && this.lapped(this.cursor);
  }

  /** Delivers up to `max` available messages to `handler`; returns how many. Never waits. */
  poll(handler: MessageHandler, max = 0x7fffffff): number {
    return this.take(handler, null, max);
  }

  /**
   * Takes up to `max` available messages into `batch` (at most its capacity) and returns how
   * many. Block policy: they stay in place until the next poll, pollBatch or release().
   * Overwrite policy: they are copied out and validated. Never waits.
   */
  pollBatch(batch: RecordBatch, max = 0x7fffffff): number {
    const n = this.take(null, batch, max < batch.capacity ? max : batch.capacity);
    batch.count = n;
    batch.bytes = this.ring.blocking ? this.ring.bytes : this.arena!;
    return n;
  }

  /**
   * As poll(), but under the block policy the records keep their ring space until release()
   * (or the next poll): a caller that must store them elsewhere first loses none when it dies.
   */
  pollHeld(handler: MessageHandler, max = 0x7fffffff): number {
    return this.take(handler, null, max, true);
  }

  /** Gives the ring space of the last pollBatch() or pollHeld() back to writers. */
  release(): void {
    if (this.held === 0) return;
    const n = this.held;
    this.held = 0;
    this.publishProgress(n);
  }

  private take(handler: MessageHandler | null, batch: RecordBatch | null, max: number, hold = false): number {
    this.release();
    if (++this.polls >= HEARTBEAT_EVERY_POLLS) this.heartbeat();
    const n = this.ring.blocking ? this.pollBlocking(handler, batch, max) : this.pollOverwrite(handler, batch, max);
    if (n !== 0) {
      // Handed-out views keep their ring space until release().
      if ((batch !== null || hold) && this.ring.blocking) this.held = n;
      else this.publishProgress(n);
    }
    if (this.ring.blocking && (this.cursor - this.checkpoint) >>> 0 >= this.ring.capacity) this.checkTail();
    if (this.fault !== null) {
      const err = this.ring.corrupt(this.faultAt, this.fault);
      this.fault = null;
      throw err;
    }
    return n;
  }

  private pollBlocking(handler: MessageHandler | null, batch: RecordBatch | null, max: number): number {
    const ring = this.ring;
    const words = ring.words;
    const bytes = ring.bytes;
    const mask = ring.mask;
    const cap = ring.capacity;
    const maxMessage = ring.maxMessage;
    // At most one ring's worth of records per call: a record takes 8 bytes or more, and a
    // valid pad ends at offset 0, where no pad may stand. So heads nobody wrote cannot hold
    // the thread (see `fault`).
    const limit = max < cap >>> 3 ? max : cap >>> 3;
    let cursor = this.cursor;
    let n = 0;
    // A batch the cursor went past without stepping over it is no longer one to step over.
    while (this.skipFrom >= 0 && ((this.skipFrom - cursor) | 0) < 0) this.nextSkip();
    let skipFrom = batch === null ? this.skipFrom : -1;
    if ((cursor & 7) !== 0) return this.fail(cursor, 'unaligned position');
    while (n < limit) {
      if (cursor === skipFrom) {
        cursor = this.skipTo;
        n += this.skipCount;
        this.nextSkip();
        skipFrom = this.skipFrom;
        continue;
      }
      const idx = cursor & mask;
      const head = Atomics.load(words, idx >>> 2);
      if (head === 0) break;
      const len = head & LENGTH_MASK;
      const kind = head >>> 30;
      if (kind === PAD_KIND && len === cap - idx && idx !== 0) {
        cursor = (cursor + len) >>> 0;
        continue;
      }
      if (kind !== RECORD_KIND || len > maxMessage || idx + RECORD_HEADER + len > cap) {
        // Stryker disable next-line StringLiteral: unreachable fallback, badHead() is non-null for every head the inline check rejects
        this.fail(cursor, ring.badHead(head, idx) ?? `head 0x${head.toString(16)}`);
        break;
      }
      if (batch === null) handler!(bytes, idx + RECORD_HEADER, len, words[(idx >>> 2) + 1]!, (head & REMOTE_FLAG) !== 0);
      else {
        batch.offsets[n] = idx + RECORD_HEADER;
        batch.lengths[n] = len;
        batch.seqs[n] = words[(idx >>> 2) + 1]!;
      }
      cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
      n++;
    }
    this.cursor = cursor;
    return n;
  }

  /** Notes what `poll` must raise once the progress before it is published; returns 0. */
  private fail(cursor: number, what: string): number {
    this.fault = what;
    this.faultAt = cursor;
    return 0;
  }

  /**
   * Block policy, after each ring's worth of progress: the writer's tail may lag the heads we
   * read by a corked batch or a dead writer's last record, never by more than the ring.
   */
  private checkTail(): void {
    this.checkpoint = this.cursor;
    const tail = Atomics.load(this.ring.ctl, RingWord.tail);
    const ahead = (this.cursor - tail) | 0;
    if (ahead > this.ring.capacity) this.fail(this.cursor, `position is ${ahead} bytes past the tail ${tail}, more than the ring holds`);
  }

  private lapped(cursor: number): boolean {
    return (Atomics.load(this.ring.ctl, RingWord.tailIntent) - cursor) >>> 0 > this.ring.capacity;
  }

  private pollOverwrite(handler: MessageHandler | null, batch: RecordBatch | null, max: number): number {
    const ring = this.ring;
    const scratch = this.scratch!;
    const cap = ring.capacity;
    const arena = batch === null ? scratch : (this.arena ??= new Uint8Array(Math.max(ring.maxMessage, 65536)));
    let used = 0;
    let cursor = this.cursor;
    let n = 0;
    // Records, pads and resumes together: at most one ring's worth per call.
    let steps = cap >>> 3;
    if ((cursor & 7) !== 0) return this.fail(cursor, 'unaligned position');
    while (n < max && steps-- > 0) {
      if (this.lapped(cursor)) {
        cursor = this.resumePoint();
        if ((cursor & 7) !== 0) {
          this.fail(cursor, 'unaligned resume point');
          break;
        }
        continue;
      }
      const idx = cursor & ring.mask;
      const head = Atomics.load(ring.words, idx >>> 2);
      if (head === 0) break;
      const len = head & LENGTH_MASK;
      const kind = head >>> 30;
      if (kind === PAD_KIND && len === cap - idx && idx !== 0) {
        cursor = (cursor + len) >>> 0;
        continue;
      }
      const seq = ring.words[(idx >>> 2) + 1]!;
      if (kind !== RECORD_KIND || len > ring.maxMessage || idx + RECORD_HEADER + len > cap) {
        if (this.lapped(cursor)) continue; // overwritten while we looked
        // Stryker disable next-line StringLiteral: unreachable fallback, badHead() is non-null for every head the inline check rejects
        this.fail(cursor, ring.badHead(head, idx) ?? `head 0x${head.toString(16)}`);
        break;
      }
      if (used + len > arena.length) break; // the batch's copies fill the arena
      arena.set(ring.bytes.subarray(idx + RECORD_HEADER, idx + RECORD_HEADER + len), used);
      if (this.lapped(cursor)) continue; // overwritten while we copied: discard
      const skipped = (seq - this.expectedSeq) | 0;
      if (skipped > 0) this.lost += skipped;
      this.expectedSeq = (seq + 1) >>> 0;
      cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
      if (batch === null) handler!(scratch, 0, len, seq, (head & REMOTE_FLAG) !== 0);
      else {
        batch.offsets[n] = used;
        batch.lengths[n] = len;
        batch.seqs[n] = seq;
        used += len;
      }
      n++;
    }
    this.cursor = cursor;
    return n;
  }

  /** Where a lapped reader goes on: the newest record if it is still intact, else the tail. */
  private resumePoint(): number {
    const tail = Atomics.load(this.ring.ctl, RingWord.tail);
    const newest = Atomics.load(this.ring.ctl, RingWord.lastRecord);
    return this.lapped(newest) || (tail - newest) >>> 0 > this.ring.capacity ? tail : newest;
  }

  private publishProgress(n: number): void {
    const t = this.ring.table;
    // The slot may have gone to another participant while the handlers ran: its cursor is not ours to write.
    if (t.word(this.slot, SlotWord.gen) !== this.gen) throw reclaimed();
    this.delivered += n;
    if (this.ring.blocking) this.expectedSeq = (this.expectedSeq + n) >>> 0;
    // The cursor releases ring space to writers; the rest is for `channel ls`.
    t.setWord(this.slot, SlotWord.cursor, this.cursor);
    t.setStat(this.slot, SlotWord.delivered, this.delivered);
    t.setStat(this.slot, SlotWord.expectedSeq, this.expectedSeq);
    if (this.ring.blocking) this.ring.space.wakeIfWaiting();
    else t.setStat(this.slot, SlotWord.lost, this.lost);
  }

  /** Refreshes the heartbeat and checks that nobody reclaimed our slot. */
  heartbeat(): void {
    this.polls = 0;
    const t = this.ring.table;
    if (t.word(this.slot, SlotWord.gen) !== this.gen || t.word(this.slot, SlotWord.state) !== SlotState.active) throw reclaimed();
    t.setWord(this.slot, SlotWord.heartbeat, t.now());
  }
}
