/**
 * What the replication loops (one-way.ts, both-ways.ts, node-replicator.ts) share: a
 * channel's messages on the link as frames (a header of the sender's 64-bit sequence number
 * and its 32-bit epoch, then the message), the sending side that frames and sends the
 * channel's own messages, the receiving side that takes each sequence number once and lands
 * it, and the LandedSeqs that keeps landed messages from going back.
 */
import { randomInt } from 'node:crypto';
import type { Claim } from '../channel/endpoints.js';
import { ErrorCode, isShimmyError } from '../errors.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

/** u64 sequence number, u32 epoch, u32 flags. */
export const HEADER_BYTES = 16;
/** On a data frame: the sender has nothing before it for this receiver any more (it let those go), so a jump ahead is no loss to ask about. */
export const FLAG_FROM_HERE = 1;
/** On an acknowledgement: a frame went missing, send again everything from the acknowledged one. */
export const FLAG_RESEND = 1;
/** On an acknowledgement of a stream ring's frames: the receiver's consumers want this many more messages (demand.ts), in the flags' bits from DEMAND_SHIFT up. */
export const FLAG_DEMAND = 2;
export const DEMAND_SHIFT = 8;

/** A sender's epoch: new for every sender, so a receiver tells a restarted sender (sequence numbers from 0 again) from a resend. */
export const newEpoch = (): number => randomInt(1, 0xffffffff);

export function writeHeader(view: DataView, seq: bigint, epoch: number, flags = 0): void {
  view.setBigUint64(0, seq, true);
  view.setUint32(8, epoch, true);
  view.setUint32(12, flags, true);
}

export interface Header {
  seq: bigint;
  epoch: number;
  flags: number;
}

export function readHeader(view: DataView): Header {
  return { seq: view.getBigUint64(0, true), epoch: view.getUint32(8, true), flags: view.getUint32(12, true) };
}

/** What every replication loop is told about its channel and link. */
export interface ChannelLinkOptions {
  /** The channel's largest message. */
  maxMessage: number;
  /** The tag of this channel's messages on the link. */
  tag: bigint;
  signal?: AbortSignal;
}
/** A tag mask that matches the tag exactly. */
export const ALL = 0xffffffffffffffffn;

/** A turn of the event loop: timers (the endpoints' heartbeats) run. */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Swallows a TIMEOUT (nothing arrived in time), rethrows anything else. */
export function ignoreTimeout(err: unknown): void {
  if (!isShimmyError(err, ErrorCode.TIMEOUT)) throw err;
}

/**
 * The ring sequence numbers of the messages a lander published into a channel, in order, for
 * the forwarder of the same channel in the same process: what it reads with one of these
 * numbers came from the link and must not go back. Sequence numbers are 32-bit and wrap.
 */
export class LandedSeqs {
  private readonly seqs: number[] = [];
  private head = 0;

  push(seq: number): void {
    this.seqs.push(seq >>> 0);
  }

  /** Whether `seq` was landed; forgets it and every earlier one (records are read in order). */
  isLanded(seq: number): boolean {
    while (this.head < this.seqs.length && ((this.seqs[this.head]! - seq) | 0) < 0) this.head++;
    const landed = this.head < this.seqs.length && this.seqs[this.head] === seq >>> 0;
    if (landed) this.head++;
    if (this.head > 4096 && this.head * 2 > this.seqs.length) {
      this.seqs.splice(0, this.head);
      this.head = 0;
    }
    return landed;
  }

  get size(): number {
    return this.seqs.length - this.head;
  }
}

/** The sending side: `send` is a subscriber's poll handler that frames and sends each message of the channel's own. */
export class Outbound {
  sent = 0;
  private readonly frame: Uint8Array;
  private readonly view: DataView;
  private readonly epoch = newEpoch();

  constructor(
    private readonly worker: UcxWorker,
    private readonly peer: UcxPeer,
    private readonly tag: bigint,
    maxMessage: number,
    private readonly timeoutMs: number,
    private readonly landed?: LandedSeqs,
  ) {
    this.frame = new Uint8Array(HEADER_BYTES + maxMessage);
    this.view = new DataView(this.frame.buffer);
  }

  readonly send = (bytes: Uint8Array, offset: number, length: number, seq: number): void => {
    if (this.landed?.isLanded(seq)) return;
    writeHeader(this.view, BigInt(this.sent), this.epoch);
    this.frame.set(bytes.subarray(offset, offset + length), HEADER_BYTES);
    this.worker.send(this.peer, this.tag, this.frame.subarray(0, HEADER_BYTES + length), this.timeoutMs);
    this.sent++;
  };
}

/**
 * The receiving side: frames arrive in `buf`; each sequence number is landed once, in order.
 * A frame of a new epoch (a restarted sender) starts the count again; a jump ahead (a sender
 * that dropped this receiver for a while) is counted in `skipped`.
 */
export class Inbound {
  readonly buf: Uint8Array;
  landed = 0;
  repeats = 0;
  skipped = 0n;
  restarts = 0;
  private readonly view: DataView;
  /** The next sequence number wanted from the current epoch (0: none seen yet). */
  next = 0n;
  epoch = 0;

  constructor(
    maxMessage: number,
    private readonly landedSeqs?: LandedSeqs,
  ) {
    this.buf = new Uint8Array(HEADER_BYTES + maxMessage);
    this.view = new DataView(this.buf.buffer);
  }

  /** Whether the frame now in `buf` is one not seen before; a repeat (a resend after a cut link) is counted, a jump ahead taken as it comes. */
  isNew(): boolean {
    const kind = this.classify();
    if (kind !== 'gap') return kind === 'new';
    this.take(this.view.getBigUint64(0, true));
    return true;
  }

  /**
   * The frame now in `buf`: new (the next one, the first of a new epoch, or a jump the sender
   * marked FLAG_FROM_HERE), a repeat, or a gap (frames before it went missing: ask for them).
   */
  classify(): 'new' | 'repeat' | 'gap' {
    const { seq, epoch, flags } = readHeader(this.view);
    if (epoch !== this.epoch) {
      if (this.epoch !== 0) this.restarts++;
      this.epoch = epoch;
      this.next = seq + 1n;
      return 'new';
    }
    if (seq < this.next) {
      this.repeats++;
      return 'repeat';
    }
    if (seq > this.next && !(flags & FLAG_FROM_HERE)) return 'gap';
    this.take(seq);
    return 'new';
  }

  private take(seq: bigint): void {
    if (seq > this.next) this.skipped += seq - this.next;
    this.next = seq + 1n;
  }

  /** The length of the message in a frame of `frameLength` bytes. */
  static messageLength(frameLength: number): number {
    return frameLength - HEADER_BYTES;
  }

  /** Puts the message of the frame in `buf` (`frameLength` bytes) into the claim, commits it and records its ring sequence number. */
  land(claim: Claim, frameLength: number): void {
    this.landBytes(claim, HEADER_BYTES, frameLength);
  }

  /** Puts `buf[from, to)` (one message of a batch) into the claim, commits it and records its ring sequence number. */
  landBytes(claim: Claim, from: number, to: number): void {
    claim.bytes.set(this.buf.subarray(from, to));
    const ringSeq = claim.commit();
    this.landedSeqs?.push(ringSeq);
    this.landed++;
  }
}
