/**
 * Appends records to one ring. Shared writers serialize on the ring's write lock, held only
 * between reserve() and commit(); an exclusive writer holds it from construction to close.
 * A record becomes visible when its head word turns non-zero (see layout.ts), so a writer
 * killed mid-copy exposes nothing: the next writer takes the lock over, finds the committed
 * end by scanning heads, and writes over the unfinished record.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { LENGTH_MASK, PAD_FLAG, RingWord, RECORD_HEADER, VALID_FLAG, align8, recordBytes } from './layout.js';
import type { RingView } from './ring-view.js';
import type { RecoverableLock } from './lock.js';

/** Told, before readers can see a batch, its first record's position and sequence number, the position after it, and its records. */
export type BeforePublish = (pos: number, seq: number, end: number, count: number) => void;

export class RingWriter {
  private floor = 0;
  private floorValid = false;
  private pendingPos = -1;
  private pendingIdx = 0;
  private pendingMax = 0;
  /** Exclusive writers hold the lock from construction to close and keep tail and seq here. */
  private tail = 0;
  private seq = 0;
  /** While corked: the word index of the batch's first head, published by uncork(); else -1. */
  private corkedHead = -1;
  private corkedHeadValue = 0;
  /** While corked: the position of the batch's first record. */
  private corkedPos = 0;
  private corkedLast = 0;
  /**
   * The write lock is held beyond one record, with tail and seq kept here: always for an
   * exclusive writer, during writeBatch() for a shared one.
   */
  private held: boolean;

  constructor(
    private readonly ring: RingView,
    private readonly lock: RecoverableLock,
    private readonly exclusive = false,
  ) {
    const conflict = this.lock.conflict();
    if (conflict) throw conflict;
    this.held = exclusive;
    if (!exclusive) return;
    this.lock.acquire();
    // Whoever wrote last may have died between publishing a head and moving tail.
    this.repair();
    Atomics.store(ring.ctl, RingWord.exclusiveWriter, this.lock.ownerToken);
    this.tail = Atomics.load(ring.ctl, RingWord.tail);
    this.seq = Atomics.load(ring.ctl, RingWord.nextSeq);
  }

  /** Gives up an exclusive writer's lock (publishing a corked batch first). */
  close(): void {
    if (!this.exclusive) return;
    this.abort();
    this.uncork();
    Atomics.compareExchange(this.ring.ctl, RingWord.exclusiveWriter, this.lock.ownerToken, 0);
    this.lock.release();
  }

  get maxMessage(): number {
    return this.ring.maxMessage;
  }

  /**
   * With the lock held: moves tail and nextSeq to the true committed end (heads are the
   * truth, tail a hint) and drops any reservation of a writer that died.
   */
  private repair(): void {
    const ctl = this.ring.ctl;
    const { pos, nextSeq } = this.ring.committedEnd();
    ctl[RingWord.nextSeq] = nextSeq;
    Atomics.store(ctl, RingWord.tail, pos);
    Atomics.store(ctl, RingWord.tailIntent, (pos + RECORD_HEADER) >>> 0);
    Atomics.store(ctl, RingWord.exclusiveWriter, 0);
  }

  /**
   * Reserves room for `len` payload bytes and returns the payload's offset in
   * `ring.bytes`, or -1 when the ring is full (block policy). On success the write lock is
   * held until commit() or abort().
   */
  reserve(len: number, wait = true): number {
    const ring = this.ring;
    if (len > ring.maxMessage || len < 0) this.tooLarge(len);
    if (!this.held) {
      // Without `wait`, a live participant holding the lock (another publisher's claim)
      // counts as no room: the caller returns or waits off the event loop.
      const takenOver = wait ? this.lock.acquire() : this.lock.tryAcquire();
      if (takenOver === null) return -1;
      if (takenOver) this.repair();
    }
    const ctl = ring.ctl;
    const cap = ring.capacity;
    let pos = this.held ? this.tail : Atomics.load(ctl, RingWord.tail);
    const idx = pos & ring.mask;
    const need = RECORD_HEADER + align8(len);
    const pad = idx + need > cap ? cap - idx : 0;
    const end = (pos + pad + need) >>> 0;
    // The head after the record is zeroed too, so it must be free as well.
    const reach = (end + RECORD_HEADER) >>> 0;
    if (ring.blocking) {
      if (!this.floorValid || (reach - this.floor) >>> 0 > cap) {
        this.floor = ring.readFloor(pos);
        // Stryker disable next-line BooleanLiteral: the cache only saves readFloor() scans; re-reading the floor on every call makes the same decisions
        this.floorValid = true;
        // A closed gate counts as a full ring, looked at again on every try (writers see it within a ring's worth of writing).
        const gated = this.gated();
        if (gated) this.floorValid = false;
        if (gated || (reach - this.floor) >>> 0 > cap) {
          if (!this.held) this.lock.release();
          // Readers cannot make room for a batch they cannot see yet.
          if (this.corkedHead >= 0) {
            this.uncork();
            this.corked = true;
          }
          return -1;
        }
      }
    } else {
      // A batch must not lap its own first record, whose head it still holds back: publish
      // what is corked, then go on corked.
      if (this.corkedHead >= 0 && (reach - this.corkedPos) >>> 0 > cap) {
        this.uncork();
        this.corked = true;
      }
      // Only forward: an aborted claim may have written anywhere up to the intent it set.
      if (((reach - Atomics.load(ctl, RingWord.tailIntent)) | 0) > 0) Atomics.store(ctl, RingWord.tailIntent, reach);
    }
    if (pad !== 0) {
      // Filler to the end of the ring, committed at once: clear the head at 0 first.
      ring.words[0] = 0;
      Atomics.store(ring.words, idx >>> 2, (PAD_FLAG | pad) >>> 0);
      pos = (pos + pad) >>> 0;
      // Behind a hidden corked batch the tail hint waits for uncork().
      if (this.corkedHead < 0) Atomics.store(ctl, RingWord.tail, pos);
      if (this.held) this.tail = pos;
    }
    this.pendingPos = pos;
    this.pendingIdx = pos & ring.mask;
    this.pendingMax = len;
    return this.pendingIdx + RECORD_HEADER;
  }

  /** The node agent holds publishers back (its peers have not acknowledged enough): RingWord.gate, unless its holder died. */
  private gated(): boolean {
    const gate = Atomics.load(this.ring.ctl, RingWord.gate);
    return gate !== 0 && !this.ring.table.tokenHolderDead(gate);
  }

  private tooLarge(len: number): never {
    throw new ShimmyError(
      ErrorCode.MESSAGE_TOO_LARGE,
      `A ${len}-byte message is larger than this channel's maximum of ${this.ring.maxMessage} bytes`,
      'Split the message, or recreate the channel with a larger --max-message',
    );
  }

  /** Publishes the reserved record with `len` payload bytes (at most what was reserved). */
  commit(len: number): number {
    const ring = this.ring;
    if (this.pendingPos < 0) throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'commit() without a reservation', 'Call claim() first');
    if (len > this.pendingMax || len < 0) {
      this.abort();
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `commit(${len}) exceeds the ${this.pendingMax} bytes claimed`, 'Claim the full size up front');
    }
    const ctl = ring.ctl;
    const words = ring.words;
    // nextSeq and tail are only written under the write lock; readers go by heads.
    const seq = this.held ? this.seq : ctl[RingWord.nextSeq]!;
    const w = this.pendingIdx >>> 2;
    const start = this.pendingPos;
    const end = (start + RECORD_HEADER + align8(len)) >>> 0;
    words[w + 1] = seq;
    words[(end & ring.mask) >>> 2] = 0;
    const head = (VALID_FLAG | len) >>> 0;
    this.pendingPos = -1;
    if (this.held) {
      this.tail = end;
      this.seq = (seq + 1) >>> 0;
      this.publishExclusive(w, head, start);
    } else {
      Atomics.store(words, w, head);
      ctl[RingWord.nextSeq] = (seq + 1) >>> 0;
      if (!ring.blocking) Atomics.store(ctl, RingWord.lastRecord, start);
      Atomics.store(ctl, RingWord.tail, end);
      this.lock.release();
      ring.data.wakeIfWaiting();
    }
    return seq;
  }

  /** Batching (exclusive writers): records written while corked appear together at uncork(). */
  corked = false;

  cork(): void {
    if (!this.exclusive) {
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'cork() needs an exclusive publisher', 'Create the publisher with { exclusive: true }');
    }
    this.corked = true;
  }

  /** Publishes everything written since cork() with one release store. */
  uncork(): void {
    this.corked = false;
    if (this.corkedHead < 0) return;
    Atomics.store(this.ring.words, this.corkedHead, this.corkedHeadValue);
    this.corkedHead = -1;
    this.publishHints(this.corkedLast);
    this.ring.data.wakeIfWaiting();
  }

  /** An exclusive writer's tail, nextSeq and newest-record hints, for tools and takeovers. */
  private publishHints(lastRecord: number): void {
    const ctl = this.ring.ctl;
    ctl[RingWord.nextSeq] = this.seq;
    if (!this.ring.blocking) Atomics.store(ctl, RingWord.lastRecord, lastRecord >>> 0);
    ctl[RingWord.tail] = this.tail;
  }

  abort(): void {
    if (this.pendingPos < 0) return;
    const ctl = this.ring.ctl;
    // Overwrite policy: the claim's bytes may already cover records a reader has yet to read,
    // so the intent stays where the claim put it and such a reader still sees itself lapped.
    if (this.ring.blocking) Atomics.store(ctl, RingWord.tailIntent, (Atomics.load(ctl, RingWord.tail) + RECORD_HEADER) >>> 0);
    this.pendingPos = -1;
    if (!this.held) this.lock.release();
  }

  /** Copies `src` into the ring. False when the ring is full (block policy). */
  tryWrite(src: Uint8Array): boolean {
    return this.held ? this.tryWriteHeld(src) : this.tryWriteReserved(src);
  }

  /**
   * Copies `msgs[from..to)` in as one batch and returns how many were written: all of them,
   * the prefix that fit (block policy), or none while another writer holds the lock.
   * Readers see the written ones together, with one release store, so a writer killed
   * mid-batch exposes none of it. Never waits.
   */
  tryWriteBatch(msgs: readonly Uint8Array[], from: number, to: number): number {
    const max = this.ring.maxMessage;
    for (let i = from; i < to; i++) {
      const len = msgs[i]!.length;
      if (len > max) this.tooLarge(len);
    }
    const shared = !this.held;
    if (shared) {
      const takenOver = this.lock.tryAcquire();
      if (takenOver === null) return 0;
      if (takenOver) this.repair();
      const ctl = this.ring.ctl;
      this.tail = Atomics.load(ctl, RingWord.tail);
      this.seq = ctl[RingWord.nextSeq]!;
      this.held = true;
    }
    const wasCorked = this.corked;
    this.corked = true;
    let i = from;
    try {
      while (i < to) {
        i = this.writeRun(msgs, i, to);
        if (i === to || !this.tryWriteHeld(msgs[i]!)) break;
        i++;
      }
    } finally {
      if (!wasCorked) this.uncork();
      if (shared) {
        this.held = false;
        this.lock.release();
      }
    }
    return i - from;
  }

  /**
   * Copies `src[from .. to)`, records laid out as in a ring (checkRecords), in as one batch
   * with `flags` on their heads: all of them (the number of records), or none (-1) when the
   * ring has no room for all (block policy) or another writer holds the lock. The copy is one
   * or two block copies (the ring's end may split it between records); the heads and sequence
   * numbers are this ring's own, written over what `src` had. `beforePublish` gets the first
   * record's position and sequence number (and where the batch ends) while readers cannot see
   * the batch yet, so whoever notes there what it wrote can tell after a crash whether the
   * batch became visible.
   * Malformed records, or more than the ring holds at once: INVALID_ARGUMENT. Shared writers
   * only. Never waits.
   */
  tryWriteRecords(src: Uint8Array, from: number, to: number, flags: number, beforePublish: BeforePublish): number {
    if (this.held || this.corked) {
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'tryWriteRecords() on an exclusive or corked writer', 'Use a shared publisher');
    }
    const ring = this.ring;
    const { capacity: cap, mask, ctl, words } = ring;
    const checked = checkRecords(src, from, to, ring.maxMessage);
    if (typeof checked === 'string')
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `malformed records: ${checked}`, 'Pass whole records, as a ring holds them');
    const { count, largest, heads } = checked;
    const footprint = to - from;
    // With a filler (shorter than the record that did not fit before the end) and the zero head after the last.
    if (count > 1 && footprint + largest + RECORD_HEADER > cap) {
      throw new ShimmyError(
        ErrorCode.INVALID_ARGUMENT,
        `a batch of ${footprint} bytes cannot fit this ${cap}-byte ring at once`,
        'Write it in smaller batches',
      );
    }
    if (count === 0) return 0;
    const takenOver = this.lock.tryAcquire();
    if (takenOver === null) return -1;
    try {
      if (takenOver) this.repair();
      const start = Atomics.load(ctl, RingWord.tail);
      const idx = start & mask;
      // The records that fit before the end of the ring; the rest go at its start, after a filler.
      let before = footprint;
      if (idx + footprint > cap) {
        before = 0;
        for (;;) {
          const need = recordBytes(heads[before >>> 2]! & LENGTH_MASK);
          if (idx + before + need > cap) break;
          before += need;
        }
      }
      const wraps = before < footprint;
      const first = before > 0 ? start : (start + cap - idx) >>> 0;
      const end = wraps ? start + (cap - idx) + (footprint - before) : start + footprint;
      const reach = (end + RECORD_HEADER) >>> 0;
      if (ring.blocking) {
        if ((reach - ring.readFloor(start)) >>> 0 > cap) return -1;
      } else if (((reach - Atomics.load(ctl, RingWord.tailIntent)) | 0) > 0) Atomics.store(ctl, RingWord.tailIntent, reach);
      // Readers stop at the batch's first head (the zero at the tail), stored last: everything after it is plain copies and stores.
      const bytes = ring.bytes;
      if (before > 0) bytes.set(src.subarray(from + 4, from + before), idx + 4);
      if (wraps) bytes.set(src.subarray(from + before, to), 0);
      const firstSeq = ctl[RingWord.nextSeq]!;
      let seq = firstSeq;
      let firstHeadValue = before === 0 ? (PAD_FLAG | (cap - idx)) >>> 0 : 0;
      let last = start;
      let pos = start;
      for (let at = 0; at < footprint;) {
        // Records that fill the ring exactly to its end leave the next one at the start: no filler.
        if (at === before && (pos & mask) !== 0) {
          if (before > 0) words[(pos & mask) >>> 2] = (PAD_FLAG | (cap - (pos & mask))) >>> 0;
          pos = (pos + cap - (pos & mask)) >>> 0;
        }
        const len = heads[at >>> 2]! & LENGTH_MASK;
        const w = (pos & mask) >>> 2;
        words[w + 1] = seq;
        const head = (VALID_FLAG | flags | len) >>> 0;
        if (pos === start) firstHeadValue = head;
        else words[w] = head;
        last = pos;
        seq = (seq + 1) >>> 0;
        const need = recordBytes(len);
        pos = (pos + need) >>> 0;
        at += need;
      }
      words[(pos & mask) >>> 2] = 0;
      beforePublish(first, firstSeq, pos, count);
      Atomics.store(words, idx >>> 2, firstHeadValue);
      ctl[RingWord.nextSeq] = seq;
      if (!ring.blocking) Atomics.store(ctl, RingWord.lastRecord, last);
      Atomics.store(ctl, RingWord.tail, pos);
    } finally {
      this.lock.release();
    }
    ring.data.wakeIfWaiting();
    return count;
  }

  /**
   * A lock holder's common case in one piece, with no reservation state: the record
   * fits before the end of the ring and under the cached floor (block policy). Anything
   * else (wrap, floor refresh, overwrite policy, too large) takes the general path.
   */
  private tryWriteHeld(src: Uint8Array): boolean {
    const ring = this.ring;
    const len = src.length;
    const pos = this.tail;
    const idx = pos & ring.mask;
    const need = RECORD_HEADER + align8(len);
    const end = (pos + need) >>> 0;
    if (len > ring.maxMessage || idx + need > ring.capacity || !ring.blocking || !this.floorValid || (end + RECORD_HEADER - this.floor) >>> 0 > ring.capacity) {
      return this.tryWriteReserved(src);
    }
    copyInto(ring.bytes, idx + RECORD_HEADER, src);
    const words = ring.words;
    const w = idx >>> 2;
    const seq = this.seq;
    words[w + 1] = seq;
    words[(end & ring.mask) >>> 2] = 0;
    this.tail = end;
    this.seq = (seq + 1) >>> 0;
    this.publishExclusive(w, (VALID_FLAG | len) >>> 0, pos);
    return true;
  }

  /**
   * A corked lock holder's batch loop: writes `msgs[i..to)` while they fit before the end of
   * the ring and under the cached floor (block policy), and returns the index it reached.
   * Readers stop at the batch's first head, held back until uncork(), so the heads after it
   * are plain stores and only the last record's successor head needs clearing.
   */
  private writeRun(msgs: readonly Uint8Array[], i: number, to: number): number {
    const ring = this.ring;
    if (!ring.blocking || !this.floorValid || i === to) return i;
    const { bytes, words, mask, capacity } = ring;
    let pos = this.tail;
    // Other publishers may have written more than a ring since this writer cached its floor;
    // then the floor says nothing, and tryWriteHeld() reads it again.
    const ahead = (pos - this.floor) >>> 0;
    if (ahead > capacity) return i;
    let idx = pos & mask;
    let room = Math.min(capacity - idx, capacity - ahead - RECORD_HEADER);
    let seq = this.seq;
    let last = -1;
    for (; i < to; i++) {
      const src = msgs[i]!;
      const len = src.length;
      const need = RECORD_HEADER + align8(len);
      if (need > room) break;
      copyInto(bytes, idx + RECORD_HEADER, src);
      const w = idx >>> 2;
      words[w + 1] = seq;
      if (this.corkedHead < 0) {
        this.corkedHead = w;
        this.corkedHeadValue = (VALID_FLAG | len) >>> 0;
        this.corkedPos = pos;
      } else {
        words[w] = (VALID_FLAG | len) >>> 0;
      }
      last = pos;
      seq = (seq + 1) >>> 0;
      pos = (pos + need) >>> 0;
      idx += need;
      room -= need;
    }
    if (last < 0) return i;
    words[(pos & mask) >>> 2] = 0;
    this.corkedLast = last;
    this.tail = pos;
    this.seq = seq;
    return i;
  }

  /**
   * A lock holder makes a written record visible: now, with its hints, or, while
   * corked, at uncork(). Readers stop at a batch's first head, still zero, so the heads
   * after it may be written plainly.
   */
  private publishExclusive(w: number, head: number, start: number): void {
    if (!this.corked) {
      Atomics.store(this.ring.words, w, head);
      this.publishHints(start);
      this.ring.data.wakeIfWaiting();
      return;
    }
    if (this.corkedHead < 0) {
      this.corkedHead = w;
      this.corkedHeadValue = head;
      this.corkedPos = start;
    } else {
      this.ring.words[w] = head;
    }
    // The hints stay at the batch start until uncork(): a writer taking over from us must
    // resume there, not behind a batch nobody can see.
    this.corkedLast = start;
  }

  private tryWriteReserved(src: Uint8Array): boolean {
    const len = src.length;
    const at = this.reserve(len, false);
    if (at < 0) return false;
    copyInto(this.ring.bytes, at, src);
    this.commit(len);
    return true;
  }

  // Stryker disable BlockStatement,BooleanLiteral: a stale floor is at or behind the true one (readers only move on) and reserve() re-reads it whenever it says "full", so forgetting it changes no decision
  /** Forget the cached floor (after slots were reclaimed). */
  invalidateFloor(): void {
    this.floorValid = false;
  }
  // Stryker restore BlockStatement,BooleanLiteral
}

/**
 * Copies `src[from .. from + len)` to `bytes[at ..]`: small payloads byte by byte, faster than
 * TypedArray.set's set-up, and without a view (a view per message is garbage per message).
 */
export function copyRange(bytes: Uint8Array, at: number, src: Uint8Array, from: number, len: number): void {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: both branches copy the same bytes; the threshold only picks the faster way
  if (len <= 32) {
    for (let i = 0; i < len; i++) bytes[at + i] = src[from + i]!;
  } else {
    bytes.set(src.subarray(from, from + len), at);
  }
}

/**
 * Checks `src[from .. to)` as a ring's records (each a head word, VALID_FLAG and the payload
 * length, a word for the sequence number, the payload padded to 8 bytes; no filler): how many,
 * the largest's bytes and the records' words (heads at `at >>> 2`), or what is wrong.
 */
export function checkRecords(src: Uint8Array, from: number, to: number, maxMessage: number): { count: number; largest: number; heads: Uint32Array } | string {
  const length = to - from;
  const at0 = src.byteOffset + from;
  // Word reads where the records are aligned (a frame's are); a copy where they are not.
  const heads = (at0 & 3) === 0 ? new Uint32Array(src.buffer, at0, length >>> 2) : new Uint32Array(src.slice(from, to - (length & 3)).buffer);
  let count = 0;
  let largest = 0;
  for (let at = 0; at < length; count++) {
    if (at + RECORD_HEADER > length) return `${length} bytes of records, cut inside a record's header at byte ${at}`;
    const head = heads[at >>> 2]!;
    const len = head & LENGTH_MASK;
    if ((head & ~LENGTH_MASK) >>> 0 !== VALID_FLAG) return `a head word 0x${head.toString(16)} at byte ${at}, not a record's`;
    if (len > maxMessage) return `a ${len}-byte message at byte ${at} (the channel's largest is ${maxMessage})`;
    const need = recordBytes(len);
    if (at + need > length) return `a ${len}-byte message at byte ${at} of ${length} bytes of records`;
    if (need > largest) largest = need;
    at += need;
  }
  return { count, largest, heads };
}

function copyInto(bytes: Uint8Array, at: number, src: Uint8Array): void {
  copyRange(bytes, at, src, 0, src.length);
}
