/**
 * The records one `Subscriber.pollBatch()` call took, described in place: record `i` is
 * `bytes[offsets[i] .. offsets[i] + lengths[i])` with sequence number `seqs[i]`. Filling it
 * costs no function call and no allocation per message. The records stay valid until the
 * subscriber's next poll, pollBatch or release: until then the writer cannot reuse their
 * ring space.
 */
import { ErrorCode, ShimmyError } from '../errors.js';

const EMPTY = new Uint8Array(0);

export class RecordBatch {
  /** How many records the last pollBatch() took. */
  count = 0;
  /** The ring's bytes (block policy) or a private validated copy (overwrite policy). */
  bytes: Uint8Array = EMPTY;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly seqs: Uint32Array;

  /** `capacity`: the most records one pollBatch() takes into this batch. */
  constructor(readonly capacity = 1024) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) {
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `A RecordBatch holds 1 to 1048576 records, not ${capacity}`, 'Pass a smaller capacity');
    }
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.seqs = new Uint32Array(capacity);
  }

  /** Record `i` as a view into `bytes` (allocates a view; the arrays above do not). */
  at(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `Record ${i} is not in this batch of ${this.count}`, 'Index from 0 to count - 1');
    }
    return this.bytes.subarray(this.offsets[i]!, this.offsets[i]! + this.lengths[i]!);
  }
}
