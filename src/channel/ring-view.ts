/**
 * Typed views over one ring of a channel segment: its control block and its data bytes,
 * plus the two notifiers (data available, space available).
 */
import { LENGTH_MASK, PAD_FLAG, VALID_FLAG, RingWord, RECORD_HEADER, RING_CONTROL, RING_CONTROL_BYTES, align8 } from './layout.js';
import { Notifier } from './notifier.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { SlotWord, type ParticipantTable } from './participants.js';
import type { SharedMemory } from '../shm/shared-memory.js';

/** `head >>> 30` of a data record (VALID_FLAG) and of a pad (PAD_FLAG); anything else is corrupt. */
export const RECORD_KIND = VALID_FLAG >>> 30;
export const PAD_KIND = PAD_FLAG >>> 30;

export interface RingViewOptions {
  /** Which ring of the segment (0 for pub/sub; 0 and 1 for the two directions of a stream). */
  index: number;
  /** Byte offset of the ring's data in the segment. */
  dataOffset: number;
  capacity: number;
  maxMessage: number;
  /** Writers wait for the slowest reader (block policy, and every stream). */
  blocking: boolean;
  /** Stream rings have one shared cursor instead of per-subscriber cursors. */
  shared: boolean;
  table: ParticipantTable;
  /** Names the channel in errors ("namespace/name"). */
  label?: string;
}

export class RingView {
  readonly ctl: Uint32Array;
  readonly words: Uint32Array;
  readonly bytes: Uint8Array;
  readonly mask: number;
  readonly data: Notifier;
  readonly space: Notifier;

  readonly index: number;
  readonly capacity: number;
  readonly maxMessage: number;
  readonly blocking: boolean;
  readonly shared: boolean;
  readonly table: ParticipantTable;
  readonly label: string;

  constructor(segment: SharedMemory, o: RingViewOptions) {
    ({ index: this.index, capacity: this.capacity, maxMessage: this.maxMessage, blocking: this.blocking, shared: this.shared, table: this.table } = o);
    this.label = o.label ?? 'unnamed';
    const { index, capacity, dataOffset } = o;
    const ctlOffset = RING_CONTROL + index * RING_CONTROL_BYTES;
    this.ctl = new Uint32Array(segment.buffer, ctlOffset, RING_CONTROL_BYTES / 4);
    this.words = new Uint32Array(segment.buffer, dataOffset, capacity / 4);
    this.bytes = new Uint8Array(segment.buffer, dataOffset, capacity);
    this.mask = capacity - 1;
    const notifier = (word: number, waiters: number) =>
      new Notifier(this.ctl, word, waiters, segment.wordAddress(ctlOffset + word * 4), () => segment.attached);
    this.data = notifier(RingWord.dataNotify, RingWord.dataWaiters);
    this.space = notifier(RingWord.spaceNotify, RingWord.spaceWaiters);
  }

  /**
   * The oldest position a reader still needs, given the writer is at `tail`: the shared
   * cursor for streams, the slowest live subscriber for pub/sub, `tail` when nobody reads.
   */
  readFloor(tail: number): number {
    if (this.shared) return Atomics.load(this.ctl, RingWord.sharedCursor);
    let behind = 0;
    const t = this.table;
    t.forEachActive('subscriber', this.index, (slot) => {
      const b = (tail - t.word(slot, SlotWord.cursor)) >>> 0;
      if (b > behind && b <= this.capacity) behind = b;
    });
    return (tail - behind) >>> 0;
  }

  /**
   * The committed end of the ring and the sequence number after it: from the `tail` hint
   * forward over published heads to the first zero head. The hint lags when a writer died
   * between publishing a head and moving it.
   */
  committedEnd(): { pos: number; nextSeq: number } {
    let pos = Atomics.load(this.ctl, RingWord.tail);
    let nextSeq = Atomics.load(this.ctl, RingWord.nextSeq);
    for (let scanned = 0; scanned <= this.capacity;) {
      const idx = pos & this.mask;
      const head = Atomics.load(this.words, idx >>> 2);
      if (head === 0) break;
      const step = (head & PAD_FLAG) !== 0 ? head & LENGTH_MASK : RECORD_HEADER + align8(head & LENGTH_MASK);
      if (step === 0 || idx + step > this.capacity) break;
      if ((head & PAD_FLAG) === 0) nextSeq = (this.words[(idx >>> 2) + 1]! + 1) >>> 0;
      pos = (pos + step) >>> 0;
      scanned += step;
    }
    return { pos, nextSeq };
  }

  /**
   * Why the non-zero `head` at byte offset `idx` is not one a Shimmy writer could have
   * written there, or null when it is. Readers check the same conditions inline on their
   * hot paths and call this only to word the error.
   */
  badHead(head: number, idx: number): string | null {
    const len = head & LENGTH_MASK;
    const kind = head >>> 30;
    if ((idx & 7) !== 0) return `record at unaligned offset ${idx}`;
    if (kind === PAD_KIND) {
      return len !== this.capacity - idx || idx === 0 ? `pad of ${len} bytes at offset ${idx} (a pad runs exactly to the end of the ring)` : null;
    }
    if (kind !== RECORD_KIND) return `head word 0x${head.toString(16)} at offset ${idx} is neither a record nor a pad`;
    if (len > this.maxMessage) return `record length ${len} at offset ${idx} is over the channel's maximum of ${this.maxMessage}`;
    if (idx + RECORD_HEADER + len > this.capacity) return `record length ${len} at offset ${idx} runs past the end of the ${this.capacity}-byte ring`;
    return null;
  }

  /** The error that ends a reader of this ring when it finds something no writer wrote. */
  corrupt(position: number, what: string): ShimmyError {
    return new ShimmyError(
      ErrorCode.CORRUPT_RING,
      `Channel ${this.label}, ring ${this.index}, is corrupt at position ${position >>> 0}: ${what}`,
      'Remove and recreate the channel; something other than Shimmy wrote into its segment',
    );
  }

  /** Slots whose cursor sits at the floor, i.e. those holding writers back. */
  slowest(): number[] {
    const tail = Atomics.load(this.ctl, RingWord.tail);
    const floor = this.readFloor(tail);
    const out: number[] = [];
    this.table.forEachActive('subscriber', this.index, (slot) => {
      if (this.table.word(slot, SlotWord.cursor) === floor) out.push(slot);
    });
    return out;
  }
}
