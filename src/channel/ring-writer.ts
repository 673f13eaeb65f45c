/**
 * Appends records to one ring. Writers on a ring serialize on its write lock; the lock is
 * held only between reserve() and commit(). A record becomes visible when `tail` moves past
 * it, so a writer killed mid-copy exposes nothing: its reservation is discarded by the next
 * writer that takes the lock over.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { PAD_FLAG, R, RECORD_HEADER, align8 } from './layout.js';
import type { RingView } from './ring-view.js';
import type { RecoverableLock } from './lock.js';

export class RingWriter {
  private floor = 0;
  private floorValid = false;
  private pendingPos = -1;
  private pendingIdx = 0;
  private pendingMax = 0;

  constructor(
    private readonly ring: RingView,
    private readonly lock: RecoverableLock,
  ) {}

  get maxMessage(): number {
    return this.ring.maxMessage;
  }

  /**
   * Reserves room for `len` payload bytes and returns the payload's offset in
   * `ring.bytes`, or -1 when the ring is full (block policy). On success the write lock is
   * held until commit() or abort().
   */
  reserve(len: number): number {
    const ring = this.ring;
    if (len > ring.maxMessage || len < 0) {
      throw new ShimmyError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `A ${len}-byte message is larger than this channel's maximum of ${ring.maxMessage} bytes`,
        'Split the message, or recreate the channel with a larger --max-message',
      );
    }
    if (this.lock.acquire()) {
      // The previous holder died between reserve and commit: forget its reservation.
      Atomics.store(ring.ctl, R.tailIntent, Atomics.load(ring.ctl, R.tail));
    }
    const cap = ring.capacity;
    const pos = Atomics.load(ring.ctl, R.tail);
    const idx = pos & ring.mask;
    const need = RECORD_HEADER + align8(len);
    const pad = idx + need > cap ? cap - idx : 0;
    const end = (pos + pad + need) >>> 0;
    if (ring.blocking) {
      if (!this.floorValid || ((end - this.floor) >>> 0) > cap) {
        this.floor = ring.readFloor(pos);
        this.floorValid = true;
        if (((end - this.floor) >>> 0) > cap) {
          this.lock.release();
          return -1;
        }
      }
    } else {
      Atomics.store(ring.ctl, R.tailIntent, end);
    }
    if (pad !== 0) ring.words[idx >>> 2] = (PAD_FLAG | pad) >>> 0;
    this.pendingPos = (pos + pad) >>> 0;
    this.pendingIdx = pad !== 0 ? 0 : idx;
    this.pendingMax = len;
    return this.pendingIdx + RECORD_HEADER;
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
    // nextSeq is only written under the write lock, whose release orders it.
    const seq = ctl[R.nextSeq]!;
    const w = this.pendingIdx >>> 2;
    ring.words[w] = len;
    ring.words[w + 1] = seq;
    ctl[R.nextSeq] = (seq + 1) >>> 0;
    if (!ring.blocking) Atomics.store(ctl, R.lastRecord, this.pendingPos);
    Atomics.store(ctl, R.tail, (this.pendingPos + RECORD_HEADER + align8(len)) >>> 0);
    this.pendingPos = -1;
    this.lock.release();
    ring.data.wakeIfWaiting();
    return seq;
  }

  abort(): void {
    if (this.pendingPos < 0) return;
    const ctl = this.ring.ctl;
    const tail = Atomics.load(ctl, R.tail);
    // A pad written by reserve() is harmless: tail never moved past it.
    Atomics.store(ctl, R.tailIntent, tail);
    this.pendingPos = -1;
    this.lock.release();
  }

  /** Copies `src` into the ring. False when the ring is full (block policy). */
  tryWrite(src: Uint8Array): boolean {
    const len = src.length;
    const at = this.reserve(len);
    if (at < 0) return false;
    const bytes = this.ring.bytes;
    if (len <= 32) {
      for (let i = 0; i < len; i++) bytes[at + i] = src[i]!;
    } else {
      bytes.set(src, at);
    }
    this.commit(len);
    return true;
  }

  /** Forget the cached floor (after slots were reclaimed). */
  invalidateFloor(): void {
    this.floorValid = false;
  }
}
