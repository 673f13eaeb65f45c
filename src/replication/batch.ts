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

/**
 * Collects messages into the next frame, as pieces (runs of a ring's records, or records it
 * wrote of its own) that take() copies once, into the spool's entry or the frame's own copy.
 */
export class BatchWriter {
  /** The records add() wrote, for the frame being collected. */
  private readonly own: Uint8Array;
  private readonly ownView: DataView;
  private ownPos = 0;
  private readonly header = new Uint8Array(HEADER_BYTES);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly limit: number;
  /** The frame's records so far: `srcs[i][froms[i] .. tos[i])` for i < pieces, in order. */
  private readonly srcs: Uint8Array[] = [];
  private readonly froms: number[] = [];
  private readonly tos: number[] = [];
  private pieces = 0;
  private bytes = 0;
  count = 0;

  /** `ringBytes`: the most bytes of records a frame may take in the receiver's ring. */
  constructor(maxMessage: number, ringBytes: number) {
    this.own = new Uint8Array(frameCapacity(maxMessage));
    this.ownView = new DataView(this.own.buffer);
    this.limit = Math.min(BATCH_BYTES, HEADER_BYTES + ringBytes);
  }

  /** Whether a message of `length` bytes still fits the frame being collected (an empty frame takes any message). */
  fits(length: number): boolean {
    return this.count === 0 || HEADER_BYTES + this.bytes + recordBytes(length) <= this.limit;
  }

  /** Adds `bytes[offset .. offset + length)` as a record of its own. */
  add(bytes: Uint8Array, offset: number, length: number): void {
    const at = this.ownPos;
    this.ownView.setUint32(at, (VALID_FLAG | length) >>> 0, true);
    copyRange(this.own, at + RECORD_HEADER, bytes, offset, length);
    this.ownPos += recordBytes(length);
    this.piece(this.own, at, this.ownPos);
  }

  /**
   * Adds the ring record whose payload is `ring[offset .. offset + length)`, as the ring has it;
   * take() copies it, with the records next to it in the ring in one go, so the ring must keep
   * it until then.
   */
  addRecord(ring: Uint8Array, offset: number, length: number): void {
    const from = offset - RECORD_HEADER;
    this.piece(ring, from, from + recordBytes(length));
  }

  private piece(src: Uint8Array, from: number, to: number): void {
    const last = this.pieces - 1;
    if (last >= 0 && this.srcs[last] === src && this.tos[last] === from) this.tos[last] = to;
    else {
      this.srcs[this.pieces] = src;
      this.froms[this.pieces] = from;
      this.tos[this.pieces] = to;
      this.pieces++;
    }
    this.bytes += to - from;
    this.count++;
  }

  /**
   * The frame collected so far, as frame `seq` of `epoch`, written into `into.add(length,
   * messages)` (a spool's entry) or else a copy of its own; the writer starts a new one.
   */
  take(seq: bigint, epoch: number, into?: { add(length: number, messages: number): Uint8Array }): Batch {
    const length = HEADER_BYTES + this.bytes;
    const data = into ? into.add(length, this.count) : new Uint8Array(length);
    writeHeader(this.headerView, seq, epoch);
    data.set(this.header);
    let at = HEADER_BYTES;
    for (let i = 0; i < this.pieces; i++) {
      data.set(this.srcs[i]!.subarray(this.froms[i]!, this.tos[i]!), at);
      at += this.tos[i]! - this.froms[i]!;
    }
    const batch = { data, messages: this.count };
    this.pieces = 0;
    this.bytes = 0;
    this.ownPos = 0;
    this.count = 0;
    return batch;
  }
}
