/**
 * What both replication loops (one-way.ts, both-ways.ts) share: a channel's messages on the
 * link as frames (a 64-bit sequence number, then the message), the sending side that frames
 * and sends the channel's own messages, the receiving side that takes each sequence number
 * once and lands it, and the LandedSeqs that keeps landed messages from going back.
 */
import type { Claim } from '../channel/endpoints.js';
import { ErrorCode, isShimmyError } from '../errors.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

export const SEQ_BYTES = 8;

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

  constructor(
    private readonly worker: UcxWorker,
    private readonly peer: UcxPeer,
    private readonly tag: bigint,
    maxMessage: number,
    private readonly timeoutMs: number,
    private readonly landed?: LandedSeqs,
  ) {
    this.frame = new Uint8Array(SEQ_BYTES + maxMessage);
    this.view = new DataView(this.frame.buffer);
  }

  readonly send = (bytes: Uint8Array, offset: number, length: number, seq: number): void => {
    if (this.landed?.isLanded(seq)) return;
    this.view.setBigUint64(0, BigInt(this.sent), true);
    this.frame.set(bytes.subarray(offset, offset + length), SEQ_BYTES);
    this.worker.send(this.peer, this.tag, this.frame.subarray(0, SEQ_BYTES + length), this.timeoutMs);
    this.sent++;
  };
}

/** The receiving side: frames arrive in `buf`; each sequence number is landed once, in order. */
export class Inbound {
  readonly buf: Uint8Array;
  landed = 0;
  repeats = 0;
  private readonly view: DataView;
  private next = 0n;

  constructor(
    maxMessage: number,
    private readonly landedSeqs?: LandedSeqs,
  ) {
    this.buf = new Uint8Array(SEQ_BYTES + maxMessage);
    this.view = new DataView(this.buf.buffer);
  }

  /** Whether the frame now in `buf` is one not seen before; a repeat (a resend after a cut link) is counted. */
  isNew(): boolean {
    const seq = this.view.getBigUint64(0, true);
    if (seq < this.next) {
      this.repeats++;
      return false;
    }
    this.next = seq + 1n;
    return true;
  }

  /** The length of the message in a frame of `frameLength` bytes. */
  static messageLength(frameLength: number): number {
    return frameLength - SEQ_BYTES;
  }

  /** Puts the message of the frame in `buf` (`frameLength` bytes) into the claim, commits it and records its ring sequence number. */
  land(claim: Claim, frameLength: number): void {
    claim.bytes.set(this.buf.subarray(SEQ_BYTES, frameLength));
    const ringSeq = claim.commit();
    this.landedSeqs?.push(ringSeq);
    this.landed++;
  }
}
