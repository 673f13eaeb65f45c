/**
 * A node replicator's data frame carries a batch of the channel's messages: the 16-byte header
 * (frames.ts: the frame's sequence number, the sender's epoch, flags), then the messages as a
 * ring's records (layout.ts: a head word whose low bits are the length, a sequence word the
 * receiver writes over, the payload padded to 8 bytes). Runs of the sender's ring go into a
 * frame in one copy, and a frame into the receiver's ring in one or two
 * (RingWriter.tryWriteRecords). A frame grows up to BATCH_BYTES, and up to a quarter of the
 * channel's ring (the receiver lands a frame whole, once its ring has room for all of it); a
 * message larger than that goes in a frame of its own. Sequence numbers, acknowledgements and
 * resends count frames, so a link pays its per-message costs (a UCX send, the MAC, an entry in
 * the queue) once per batch.
 */
import { RECORD_HEADER, VALID_FLAG, recordBytes } from '../channel/layout.js';
import { copyRange } from '../channel/ring-writer.js';
import { HEADER_BYTES, writeHeader } from './frames.js';

export const BATCH_BYTES = 64 * 1024;

/** The largest data frame for a channel whose largest message is `maxMessage` bytes. */
export const frameCapacity = (maxMessage: number): number => Math.max(BATCH_BYTES, HEADER_BYTES + recordBytes(maxMessage));

export interface Batch {
  data: Uint8Array;
  messages: number;
}

/** Collects messages into the next frame. */
export class BatchWriter {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly limit: number;
  private pos = HEADER_BYTES;
  /** A run of records in a ring, not copied yet: `runBytes[runFrom .. runTo)`. */
  private runBytes: Uint8Array | null = null;
  private runFrom = 0;
  private runTo = 0;
  count = 0;

  /** `ringBytes`: the most bytes of records a frame may take in the receiver's ring. */
  constructor(maxMessage: number, ringBytes: number) {
    this.buf = new Uint8Array(frameCapacity(maxMessage));
    this.view = new DataView(this.buf.buffer);
    this.limit = Math.min(BATCH_BYTES, HEADER_BYTES + ringBytes);
  }

  /** Whether a message of `length` bytes still fits the frame being collected (an empty frame takes any message). */
  fits(length: number): boolean {
    return this.count === 0 || this.pos + (this.runTo - this.runFrom) + recordBytes(length) <= this.limit;
  }

  /** Adds `bytes[offset .. offset + length)` as a record of its own. */
  add(bytes: Uint8Array, offset: number, length: number): void {
    this.flushRun();
    this.view.setUint32(this.pos, (VALID_FLAG | length) >>> 0, true);
    copyRange(this.buf, this.pos + RECORD_HEADER, bytes, offset, length);
    this.pos += recordBytes(length);
    this.count++;
  }

  /**
   * Adds the ring record whose payload is `ring[offset .. offset + length)`, as the ring has it;
   * records that follow one another in the ring are copied in one go, by take() at the latest,
   * so the ring must keep them until then.
   */
  addRecord(ring: Uint8Array, offset: number, length: number): void {
    const from = offset - RECORD_HEADER;
    if (ring !== this.runBytes || from !== this.runTo) {
      this.flushRun();
      this.runBytes = ring;
      this.runFrom = from;
      this.runTo = from;
    }
    this.runTo += recordBytes(length);
    this.count++;
  }

  private flushRun(): void {
    if (this.runBytes === null) return;
    this.buf.set(this.runBytes.subarray(this.runFrom, this.runTo), this.pos);
    this.pos += this.runTo - this.runFrom;
    this.runBytes = null;
  }

  /**
   * The frame collected so far, as frame `seq` of `epoch`, copied into `into.add(length,
   * messages)` (a spool's entry) or else a copy of its own; the writer starts a new one.
   */
  take(seq: bigint, epoch: number, into?: { add(length: number, messages: number): Uint8Array }): Batch {
    this.flushRun();
    writeHeader(this.view, seq, epoch);
    let data: Uint8Array;
    if (into) {
      data = into.add(this.pos, this.count);
      data.set(this.buf.subarray(0, this.pos));
    } else data = this.buf.slice(0, this.pos);
    const batch = { data, messages: this.count };
    this.pos = HEADER_BYTES;
    this.count = 0;
    return batch;
  }
}
