/**
 * One direction of a pub/sub channel between two hosts over a UcxWorker: `forward` subscribes
 * to the channel on its host and sends every message to the peer with a sequence number;
 * `land` receives them and publishes them into the channel on its host, in order, dropping a
 * repeat. Under Block, a slow peer holds the forwarding subscriber back, which holds the
 * publishers back as a slow local subscriber would. Both loops give the event loop a turn
 * every YIELD_EVERY messages and at least every RECV_SLICE_MS, so the endpoints' heartbeats
 * run. Both directions at once, in one process per host, share a LandedSeqs: the lander
 * records the ring sequence number of each message it publishes, and the forwarder skips
 * those, so a message goes back to no host it came from (docs/replication.md).
 */
import type { Publisher, Subscriber } from '../channel/endpoints.js';
import { ErrorCode, isShimmyError } from '../errors.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

const SEQ_BYTES = 8;
const YIELD_EVERY = 1024;
const RECV_SLICE_MS = 50;
const ALL = 0xffffffffffffffffn;

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

export interface OneWayOptions {
  /** The channel's largest message. */
  maxMessage: number;
  /** The tag of this channel's messages on the link. */
  tag: bigint;
  /** Stop after this many messages (default: until aborted). */
  count?: number;
  signal?: AbortSignal;
  /** How long one message may take to send before the link counts as cut (default 30 s). */
  sendTimeoutMs?: number;
  /** Shared by the lander and the forwarder of one channel in one process (both directions). */
  landed?: LandedSeqs;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sends what the subscriber gets to `peer`; resolves to how many messages it sent. */
export async function forward(sub: Subscriber, worker: UcxWorker, peer: UcxPeer, options: OneWayOptions): Promise<number> {
  const frame = new Uint8Array(SEQ_BYTES + options.maxMessage);
  const view = new DataView(frame.buffer);
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const timeoutMs = options.sendTimeoutMs ?? 30_000;
  let sent = 0;
  const send = (bytes: Uint8Array, offset: number, length: number, seq: number) => {
    if (options.landed?.isLanded(seq)) return;
    view.setBigUint64(0, BigInt(sent), true);
    frame.set(bytes.subarray(offset, offset + length), SEQ_BYTES);
    worker.send(peer, options.tag, frame.subarray(0, SEQ_BYTES + length), timeoutMs);
    sent++;
  };
  while (sent < limit && !options.signal?.aborted) {
    const n = sub.poll(send, Math.min(YIELD_EVERY, limit - sent));
    if (n > 0) await turn();
    else await sub.wait({ timeoutMs: RECV_SLICE_MS, ...(options.signal ? { signal: options.signal } : {}) }).catch(ignoreTimeout);
  }
  worker.flush(timeoutMs);
  return sent;
}

/** Publishes what arrives from the link; resolves to the messages landed and the repeats dropped. */
export async function land(pub: Publisher, worker: UcxWorker, options: OneWayOptions): Promise<{ landed: number; repeats: number }> {
  const buf = new Uint8Array(SEQ_BYTES + options.maxMessage);
  const view = new DataView(buf.buffer);
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  let next = 0n;
  let landed = 0;
  let repeats = 0;
  while (landed < limit && !options.signal?.aborted) {
    let length: number;
    try {
      ({ length } = worker.recv(options.tag, ALL, buf, RECV_SLICE_MS));
    } catch (err) {
      ignoreTimeout(err);
      await turn();
      continue;
    }
    const seq = view.getBigUint64(0, true);
    if (seq < next) {
      repeats++;
      continue;
    }
    const claim = await pub.claim(length - SEQ_BYTES);
    claim.bytes.set(buf.subarray(SEQ_BYTES, length));
    const ringSeq = claim.commit();
    options.landed?.push(ringSeq);
    next = seq + 1n;
    if (++landed % YIELD_EVERY === 0) await turn();
  }
  return { landed, repeats };
}

function ignoreTimeout(err: unknown): void {
  if (!isShimmyError(err, ErrorCode.TIMEOUT)) throw err;
}
