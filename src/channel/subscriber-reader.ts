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
import { LENGTH_MASK, PAD_FLAG, RingWord, RECORD_HEADER, align8 } from './layout.js';
import { SlotWord, SlotState } from './participants.js';
import type { RingView } from './ring-view.js';

/** Receives one message: `bytes[offset .. offset+length)`; valid only during the call. */
export type MessageHandler = (bytes: Uint8Array, offset: number, length: number, seq: number) => void;

const HEARTBEAT_EVERY_POLLS = 1024;

export class SubscriberReader {
  cursor: number;
  lost = 0;
  delivered = 0;
  private expectedSeq: number;
  private polls = 0;
  private readonly scratch: Uint8Array | null;
  private readonly gen: number;

  constructor(
    private readonly ring: RingView,
    readonly slot: number,
  ) {
    const t = ring.table;
    this.gen = t.word(slot, SlotWord.gen);
    // A subscriber gets what is published after it joined: start at the committed end.
    // The slot went active with the tail read at claim time; looking again now that writers
    // see us means nothing between the two looks can be overwritten before we read it.
    const end = ring.committedEnd();
    this.cursor = end.pos;
    this.expectedSeq = end.nextSeq;
    t.setWord(slot, SlotWord.cursor, this.cursor);
    t.setWord(slot, SlotWord.expectedSeq, this.expectedSeq);
    this.scratch = ring.blocking ? null : new Uint8Array(ring.maxMessage);
  }

  hasData(): boolean {
    if (Atomics.load(this.ring.words, (this.cursor & this.ring.mask) >>> 2) !== 0) return true;
    return !this.ring.blocking && this.lapped(this.cursor);
  }

  /** Delivers up to `max` available messages to `handler`; returns how many. Never waits. */
  poll(handler: MessageHandler, max = 0x7fffffff): number {
    if (++this.polls >= HEARTBEAT_EVERY_POLLS) this.heartbeat();
    const n = this.ring.blocking ? this.pollBlocking(handler, max) : this.pollOverwrite(handler, max);
    if (n !== 0) this.publishProgress(n);
    return n;
  }

  private pollBlocking(handler: MessageHandler, max: number): number {
    const ring = this.ring;
    const words = ring.words;
    const bytes = ring.bytes;
    const mask = ring.mask;
    let cursor = this.cursor;
    let n = 0;
    while (n < max) {
      const idx = cursor & mask;
      const head = Atomics.load(words, idx >>> 2);
      if (head === 0) break;
      if ((head & PAD_FLAG) !== 0) {
        cursor = (cursor + (head & LENGTH_MASK)) >>> 0;
        continue;
      }
      const len = head & LENGTH_MASK;
      handler(bytes, idx + RECORD_HEADER, len, words[(idx >>> 2) + 1]!);
      cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
      n++;
    }
    this.cursor = cursor;
    return n;
  }

  private lapped(cursor: number): boolean {
    return (Atomics.load(this.ring.ctl, RingWord.tailIntent) - cursor) >>> 0 > this.ring.capacity;
  }

  private pollOverwrite(handler: MessageHandler, max: number): number {
    const ring = this.ring;
    const scratch = this.scratch!;
    let cursor = this.cursor;
    let n = 0;
    while (n < max) {
      if (this.lapped(cursor)) {
        cursor = this.resumePoint();
        continue;
      }
      const idx = cursor & ring.mask;
      const head = Atomics.load(ring.words, idx >>> 2);
      if (head === 0) break;
      if ((head & PAD_FLAG) !== 0) {
        const pad = head & LENGTH_MASK;
        if (this.lapped(cursor)) continue;
        if (pad !== ring.capacity - idx) this.corrupt(cursor, `pad of ${pad} bytes at offset ${idx}`);
        cursor = (cursor + pad) >>> 0;
        continue;
      }
      const len = head & LENGTH_MASK;
      const seq = ring.words[(idx >>> 2) + 1]!;
      if (len > ring.maxMessage || idx + RECORD_HEADER + len > ring.capacity) {
        if (this.lapped(cursor)) continue;
        this.corrupt(cursor, `record length ${len} at offset ${idx}`);
      }
      scratch.set(ring.bytes.subarray(idx + RECORD_HEADER, idx + RECORD_HEADER + len));
      if (this.lapped(cursor)) continue; // overwritten while we copied: discard
      const skipped = (seq - this.expectedSeq) | 0;
      if (skipped > 0) this.lost += skipped;
      this.expectedSeq = (seq + 1) >>> 0;
      cursor = (cursor + RECORD_HEADER + align8(len)) >>> 0;
      n++;
      handler(scratch, 0, len, seq);
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

  private corrupt(cursor: number, what: string): never {
    throw new ShimmyError(
      ErrorCode.CORRUPT_HEADER,
      `Ring ${this.ring.index} is corrupt at position ${cursor}: ${what}`,
      'Remove and recreate the channel; report this as a bug',
    );
  }

  private publishProgress(n: number): void {
    const t = this.ring.table;
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
    if (t.word(this.slot, SlotWord.gen) !== this.gen || t.word(this.slot, SlotWord.state) !== SlotState.active) {
      throw new ShimmyError(
        ErrorCode.CLOSED,
        'This subscriber was declared dead and its slot reclaimed (no heartbeat for too long)',
        'Subscribe again; keep the event loop or poll loop turning so heartbeats continue',
      );
    }
    t.setWord(this.slot, SlotWord.heartbeat, t.now());
  }
}
