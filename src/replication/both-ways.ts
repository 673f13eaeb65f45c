/**
 * Both directions of a pub/sub channel over one link, in one loop on one thread: the
 * channel's own messages go to the peer, the peer's are published into the channel, and
 * nothing goes back where it came from (the LandedSeqs of one-way.ts). Neither direction may
 * block the other: a receive only takes what has arrived (tryRecv), a landing only claims
 * room that is free (tryClaim; the loop's own subscriber must keep reading for the ring to
 * drain), and an idle loop sleeps at most IDLE_MS on the ring.
 */
import type { Publisher, Subscriber } from '../channel/endpoints.js';
import { ErrorCode, isShimmyError } from '../errors.js';
import { LandedSeqs } from './one-way.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

const SEQ_BYTES = 8;
const BATCH = 1024;
const IDLE_MS = 1;
const ALL = 0xffffffffffffffffn;

export interface BothWaysOptions {
  maxMessage: number;
  tag: bigint;
  /** Stop once this many of the channel's own messages went out and this many came in (default: until aborted). */
  forwardCount?: number;
  landCount?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface BothWaysResult {
  forwarded: number;
  landed: number;
  repeats: number;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function replicateBothWays(sub: Subscriber, pub: Publisher, worker: UcxWorker, peer: UcxPeer, options: BothWaysOptions): Promise<BothWaysResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const landedSeqs = new LandedSeqs();
  const out = new Uint8Array(SEQ_BYTES + options.maxMessage);
  const outView = new DataView(out.buffer);
  const inbox = new Uint8Array(SEQ_BYTES + options.maxMessage);
  const inView = new DataView(inbox.buffer);
  const result: BothWaysResult = { forwarded: 0, landed: 0, repeats: 0 };
  const forwardLimit = options.forwardCount ?? Number.POSITIVE_INFINITY;
  const landLimit = options.landCount ?? Number.POSITIVE_INFINITY;
  let next = 0n;
  /** The length of a frame in the inbox that waits for room in the ring. */
  let pending: number | null = null;
  const send = (bytes: Uint8Array, offset: number, length: number, seq: number) => {
    if (landedSeqs.isLanded(seq)) return;
    outView.setBigUint64(0, BigInt(result.forwarded), true);
    out.set(bytes.subarray(offset, offset + length), SEQ_BYTES);
    worker.send(peer, options.tag, out.subarray(0, SEQ_BYTES + length), timeoutMs);
    result.forwarded++;
  };
  while ((result.forwarded < forwardLimit || result.landed < landLimit || pending !== null) && !options.signal?.aborted) {
    let did = sub.poll(send, BATCH);
    for (let i = 0; i < BATCH; i++) {
      if (pending === null) {
        const got = worker.tryRecv(options.tag, ALL, inbox, timeoutMs);
        if (!got) break;
        did++;
        const seq = inView.getBigUint64(0, true);
        if (seq < next) {
          result.repeats++;
          continue;
        }
        next = seq + 1n;
        pending = got.length;
      }
      const claim = pub.tryClaim(pending - SEQ_BYTES);
      if (!claim) break;
      claim.bytes.set(inbox.subarray(SEQ_BYTES, pending));
      landedSeqs.push(claim.commit());
      pending = null;
      result.landed++;
      did++;
    }
    if (did > 0) await turn();
    else await sub.wait({ timeoutMs: IDLE_MS, ...(options.signal ? { signal: options.signal } : {}) }).catch(ignoreTimeout);
  }
  worker.flush(timeoutMs);
  return result;
}

function ignoreTimeout(err: unknown): void {
  if (!isShimmyError(err, ErrorCode.TIMEOUT)) throw err;
}
