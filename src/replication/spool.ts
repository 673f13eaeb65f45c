/**
 * A sending agent's spool: the frames it made from its node's messages that its peers have not
 * all acknowledged, in a memory file that outlives the agent (the chart's agent spool volume),
 * so the agent after a killed one sends them again under the same epoch and sequence numbers
 * and the peers drop what they already landed.
 *
 * The file is a byte ring of entries (a u32 length and a u32 message count, then the frame,
 * padded to 8 bytes; a length of WRAP: the next entry is at offset 0) behind a header. What
 * counts is a *commit*: the head and tail of the entries, the agent subscriber's place in the
 * channel's ring just past the messages in them, and the next frame's sequence number. There
 * are two commit records and a word naming the current one; a commit writes the other and
 * then switches the word, so an agent killed at any instant leaves one whole commit. The
 * agent releases the messages it read from the ring only after the commit that holds them,
 * and sends the frames only after it too: the next agent reads on from the committed place
 * and numbers on from the committed sequence number, so no message is framed twice or lost.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { align8 } from '../channel/layout.js';
import type { ReaderPosition } from '../channel/subscriber-reader.js';
import { MemoryFile } from '../shm/memory-file.js';
import { HEADER_BYTES as FRAME_HEADER, newEpoch } from './frames.js';

const MAGIC = 0x4c4f5053;
/** 2: the frames hold ring records (batch.ts), not length-prefixed messages; a version 1 spool is made anew. */
const VERSION = 2;
const FILE_HEADER = 128;
const ENTRY_HEADER = 8;
const WRAP = 0xffffffff;
const Word = { magic: 0, version: 1, epoch: 2, size: 3, identity: 4, maxFrame: 5, current: 6 } as const;
const RECORDS_AT = 8;
const RECORD_WORDS = 8;
const Field = { head: 0, tail: 1, cursor: 2, expectedSeq: 3, seqLo: 4, seqHi: 5 } as const;

export interface SpoolCommit {
  head: number;
  tail: number;
  /** The agent subscriber's place in the ring just past the spooled messages. */
  ring: ReaderPosition;
  nextSeq: bigint;
}

export interface SpooledFrame {
  seq: bigint;
  /** The frame as sent, a view into the spool: valid until its space is let go. */
  data: Uint8Array;
  messages: number;
}

export interface SpoolSettings {
  /** The bytes of entries the spool holds. */
  bytes: number;
  /** The largest frame. */
  maxFrame: number;
  /** Names the channel (a hash of its key): a spool of another channel at the path is not taken. */
  identity: number;
}

/** What an earlier agent left: its epoch, its committed frames and where its subscriber had read to. */
export interface Recovered {
  epoch: number;
  frames: SpooledFrame[];
  ring: ReaderPosition;
  nextSeq: bigint;
}

export class Spool {
  private readonly words: Uint32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  readonly size: number;
  /** Where the next entry goes: past what is committed while frames are being added. */
  private head: number;
  private committed: SpoolCommit;
  private closed = false;

  private constructor(
    private readonly file: MemoryFile,
    readonly epoch: number,
    readonly maxFrame: number,
  ) {
    this.words = new Uint32Array(file.buffer, 0, FILE_HEADER / 4);
    this.bytes = new Uint8Array(file.buffer, FILE_HEADER);
    this.view = new DataView(file.buffer, FILE_HEADER);
    this.size = this.bytes.length;
    this.committed = this.read();
    this.head = this.committed.head;
  }

  get path(): string {
    return this.file.path;
  }

  /**
   * Opens the spool at `path` as an earlier agent left it (`recovered`), or makes a new one
   * there with a new epoch when there is none, or it has other settings or does not hold
   * together (`discarded` says why; the file is made again).
   */
  static open(path: string, settings: SpoolSettings): { spool: Spool; recovered: Recovered | null; discarded?: string } {
    let file: MemoryFile | null = null;
    let discarded: string | undefined;
    try {
      file = MemoryFile.attach(path);
    } catch (err) {
      if (!(err instanceof ShimmyError && err.code === ErrorCode.SEGMENT_NOT_FOUND)) discarded = err instanceof Error ? err.message : String(err);
    }
    if (file) {
      const spool = Spool.fromFile(file, settings);
      if (typeof spool !== 'string') {
        const recovered = spool.recover();
        if (typeof recovered !== 'string') return { spool, recovered };
        discarded = recovered;
        spool.close();
      } else {
        discarded = spool;
        file.detach();
      }
    }
    if (file || discarded !== undefined) MemoryFile.remove(path);
    return { spool: Spool.create(path, settings), recovered: null, ...(discarded !== undefined ? { discarded } : {}) };
  }

  private static create(path: string, settings: SpoolSettings): Spool {
    const size = align8(settings.bytes);
    const file = MemoryFile.create(path, FILE_HEADER + size, 0o600);
    const w = new Uint32Array(file.buffer, 0, FILE_HEADER / 4);
    w[Word.version] = VERSION;
    w[Word.epoch] = newEpoch();
    w[Word.size] = size;
    w[Word.identity] = settings.identity >>> 0;
    w[Word.maxFrame] = settings.maxFrame;
    Atomics.store(w, Word.magic, MAGIC);
    return new Spool(file, w[Word.epoch]!, settings.maxFrame);
  }

  private static fromFile(file: MemoryFile, settings: SpoolSettings): Spool | string {
    if (file.size < FILE_HEADER) return `the spool file is ${file.size} bytes`;
    const w = new Uint32Array(file.buffer, 0, FILE_HEADER / 4);
    if (w[Word.magic] !== MAGIC || w[Word.version] !== VERSION) return 'the spool file is not a spool of this version';
    if (w[Word.size] !== file.size - FILE_HEADER || w[Word.size] !== align8(settings.bytes) || w[Word.maxFrame] !== settings.maxFrame)
      return 'the spool was made for other channel settings';
    if (w[Word.identity] !== settings.identity >>> 0) return "the spool is another channel's";
    if (w[Word.current]! > 1) return `the spool's commit word is ${w[Word.current]}`;
    return new Spool(file, w[Word.epoch]!, settings.maxFrame);
  }

  private read(): SpoolCommit {
    const at = RECORDS_AT + RECORD_WORDS * Atomics.load(this.words, Word.current);
    const w = this.words;
    return {
      head: w[at + Field.head]!,
      tail: w[at + Field.tail]!,
      ring: { cursor: w[at + Field.cursor]!, expectedSeq: w[at + Field.expectedSeq]! },
      nextSeq: (BigInt(w[at + Field.seqHi]!) << 32n) | BigInt(w[at + Field.seqLo]!),
    };
  }

  private write(c: SpoolCommit): void {
    const next = 1 - Atomics.load(this.words, Word.current);
    const at = RECORDS_AT + RECORD_WORDS * next;
    const w = this.words;
    w[at + Field.head] = c.head;
    w[at + Field.tail] = c.tail;
    w[at + Field.cursor] = c.ring.cursor;
    w[at + Field.expectedSeq] = c.ring.expectedSeq;
    w[at + Field.seqLo] = Number(c.nextSeq & 0xffffffffn);
    w[at + Field.seqHi] = Number(c.nextSeq >> 32n);
    Atomics.store(w, Word.current, next);
    this.committed = c;
  }

  /** The committed frames, checked: a string says what does not hold together. */
  private recover(): Recovered | string {
    const c = this.committed;
    if (c.head >= this.size || c.tail >= this.size || (c.head & 7) !== 0 || (c.tail & 7) !== 0)
      return `the spool's commit (head ${c.head}, tail ${c.tail}) is outside it`;
    const frames: SpooledFrame[] = [];
    let at = c.tail;
    for (let steps = 0; at !== c.head; steps++) {
      if (steps > this.size / ENTRY_HEADER) return "the spool's entries do not reach its head";
      const length = this.view.getUint32(at, true);
      if (length === WRAP) {
        if (c.head > c.tail) return `a wrap mark at ${at} between the tail and the head`;
        at = 0;
        continue;
      }
      const messages = this.view.getUint32(at + 4, true);
      const end = at + ENTRY_HEADER + align8(length);
      if (length < FRAME_HEADER || length > this.maxFrame || end > this.size || messages === 0)
        return `a malformed entry at ${at} (${length} bytes, ${messages} messages)`;
      const data = this.bytes.subarray(at + ENTRY_HEADER, at + ENTRY_HEADER + length);
      const seq = this.view.getBigUint64(at + ENTRY_HEADER, true);
      const epoch = this.view.getUint32(at + ENTRY_HEADER + 8, true);
      if (epoch !== this.epoch) return `a frame of epoch ${epoch} in the spool of epoch ${this.epoch}`;
      if (frames.length > 0 && seq !== frames[frames.length - 1]!.seq + 1n) return `frame ${seq} follows frame ${frames[frames.length - 1]!.seq}`;
      frames.push({ seq, data, messages });
      at = end === this.size ? 0 : end;
    }
    if (frames.length > 0 && frames[frames.length - 1]!.seq + 1n !== c.nextSeq)
      return `the spool's last frame is ${frames[frames.length - 1]!.seq}, its next ${c.nextSeq}`;
    return { epoch: this.epoch, frames, ring: c.ring, nextSeq: c.nextSeq };
  }

  /** Bytes free for entries (one entry's worth may be lost to the wrap at the end). */
  free(): number {
    const used = this.head >= this.committed.tail ? this.head - this.committed.tail : this.size - this.committed.tail + this.head;
    return this.size - used - ENTRY_HEADER;
  }

  /** Room for `length` bytes of frame: its entry's data, to fill (not committed until commit()). */
  add(length: number, messages: number): Uint8Array {
    this.assertOpen();
    const n = ENTRY_HEADER + align8(length);
    const tail = this.committed.tail;
    let at = this.head;
    if (at >= tail) {
      if (at + n > this.size || (at + n === this.size && tail === 0)) {
        if (n >= tail) throw this.full(length);
        this.view.setUint32(at, WRAP, true);
        at = 0;
      }
    } else if (at + n >= tail) throw this.full(length);
    this.view.setUint32(at, length, true);
    this.view.setUint32(at + 4, messages, true);
    this.head = at + n === this.size ? 0 : at + n;
    return this.bytes.subarray(at + ENTRY_HEADER, at + ENTRY_HEADER + length);
  }

  private full(length: number): ShimmyError {
    return new ShimmyError(
      ErrorCode.SYSTEM_LIMIT,
      `The replication spool has no room for a ${length}-byte frame (${this.free()} bytes free)`,
      'Report this: the agent reads only with room for a ring of frames',
    );
  }

  /** Makes the frames added so far part of the spool, with the place in the ring past their messages. */
  commit(ring: ReaderPosition, nextSeq: bigint): void {
    this.assertOpen();
    this.write({ head: this.head, tail: this.committed.tail, ring, nextSeq });
  }

  /** Lets go of the committed frames before sequence number `next` (every peer has them). */
  release(next: bigint): void {
    this.assertOpen();
    const c = this.committed;
    let tail = c.tail;
    while (tail !== c.head) {
      const length = this.view.getUint32(tail, true);
      if (length === WRAP) {
        tail = 0;
        continue;
      }
      if (this.view.getBigUint64(tail + ENTRY_HEADER, true) >= next) break;
      const end = tail + ENTRY_HEADER + align8(length);
      tail = end === this.size ? 0 : end;
    }
    if (tail !== c.tail) this.write({ ...c, tail });
  }

  /**
   * Takes back the last committed frame when its sequence number's low 32 bits are `frameLo`
   * (its messages were not taken from the ring after all: stream-taker.ts); true when it did.
   */
  withdraw(frameLo: number): boolean {
    this.assertOpen();
    const c = this.committed;
    let last = -1;
    for (let at = c.tail; at !== c.head;) {
      const length = this.view.getUint32(at, true);
      if (length === WRAP) {
        at = 0;
        continue;
      }
      last = at;
      const end = at + ENTRY_HEADER + align8(length);
      at = end === this.size ? 0 : end;
    }
    if (last < 0) return false;
    const seq = this.view.getBigUint64(last + ENTRY_HEADER, true);
    if (Number(seq & 0xffffffffn) !== frameLo >>> 0) return false;
    this.head = last;
    this.write({ ...c, head: last, nextSeq: seq });
    return true;
  }

  private assertOpen(): void {
    if (this.closed) throw new ShimmyError(ErrorCode.CLOSED, `The spool ${this.path} is closed`, 'Open it again');
  }

  /** Unmaps the spool and leaves it for the next agent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The frame queues may still hold views of it.
    this.file.detach(true);
  }

  /** Unmaps and removes the spool: the channel is no longer replicated here. */
  remove(): void {
    this.close();
    MemoryFile.remove(this.path);
  }
}
