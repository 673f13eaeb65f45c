/**
 * A node replicator's data frame carries a batch of the channel's messages: the 16-byte header
 * (frames.ts: the frame's sequence number, the sender's epoch, flags), then each message as a
 * u32 length and its bytes. A frame grows up to BATCH_BYTES, and up to as many records as a
 * quarter of the channel's ring holds (the receiver lands a frame whole, once its ring has room
 * for all of it); a message larger than that goes in a frame of its own. Sequence numbers, acknowledgements and resends count frames, so a link
 * pays its per-message costs (a UCX send, the MAC, an entry in the queue) once per batch.
 */
import { RECORD_HEADER, align8 } from '../channel/layout.js';
import { copyRange } from '../channel/ring-writer.js';
import { HEADER_BYTES, writeHeader } from './frames.js';

export const LENGTH_BYTES = 4;
export const BATCH_BYTES = 64 * 1024;

/** The largest data frame for a channel whose largest message is `maxMessage` bytes. */
export const frameCapacity = (maxMessage: number): number => Math.max(BATCH_BYTES, HEADER_BYTES + LENGTH_BYTES + maxMessage);

export interface Batch {
  data: Uint8Array;
  messages: number;
}

/** Collects messages into the next frame. */
export class BatchWriter {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = HEADER_BYTES;
  /** The bytes the frame's messages take as records in a ring. */
  private records = 0;
  count = 0;

  /** `ringBytes`: the most bytes of records a frame may take in the receiver's ring. */
  constructor(
    maxMessage: number,
    private readonly ringBytes: number,
  ) {
    this.buf = new Uint8Array(frameCapacity(maxMessage));
    this.view = new DataView(this.buf.buffer);
  }

  /** Whether a message of `length` bytes still fits the frame being collected (an empty frame takes any message). */
  fits(length: number): boolean {
    return this.count === 0 || (this.pos + LENGTH_BYTES + length <= BATCH_BYTES && this.records + RECORD_HEADER + align8(length) <= this.ringBytes);
  }

  add(bytes: Uint8Array, offset: number, length: number): void {
    this.view.setUint32(this.pos, length, true);
    copyRange(this.buf, this.pos + LENGTH_BYTES, bytes, offset, length);
    this.pos += LENGTH_BYTES + length;
    this.records += RECORD_HEADER + align8(length);
    this.count++;
  }

  /**
   * The frame collected so far, as frame `seq` of `epoch`, copied into `into.add(length,
   * messages)` (a spool's entry) or else a copy of its own; the writer starts a new one.
   */
  take(seq: bigint, epoch: number, into?: { add(length: number, messages: number): Uint8Array }): Batch {
    writeHeader(this.view, seq, epoch);
    let data: Uint8Array;
    if (into) {
      data = into.add(this.pos, this.count);
      data.set(this.buf.subarray(0, this.pos));
    } else data = this.buf.slice(0, this.pos);
    const batch = { data, messages: this.count };
    this.pos = HEADER_BYTES;
    this.records = 0;
    this.count = 0;
    return batch;
  }
}

/**
 * The next message of a frame at `offset` (just past the header, or past the previous
 * message): its bytes' start and end, or null when the frame ends there. A length that runs
 * past the frame's end or over `maxMessage` is malformed: a string says so.
 */
export function messageAt(view: DataView, offset: number, frameLength: number, maxMessage: number): { from: number; to: number } | null | string {
  if (offset >= frameLength) return null;
  if (offset + LENGTH_BYTES > frameLength) return `a frame of ${frameLength} bytes cut inside a message length at ${offset}`;
  const length = view.getUint32(offset, true);
  const from = offset + LENGTH_BYTES;
  if (length > maxMessage || from + length > frameLength)
    return `a ${length}-byte message at ${offset} in a frame of ${frameLength} bytes (the channel's largest is ${maxMessage})`;
  return { from, to: from + length };
}
