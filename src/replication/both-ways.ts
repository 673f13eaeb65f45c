/**
 * Both directions of a pub/sub channel over one link, in one loop on one thread: the
 * channel's own messages go to the peer, the peer's are published into the channel, and
 * nothing goes back where it came from (LandedSeqs, frames.ts). Neither direction may
 * block the other: a receive only takes what has arrived (tryRecv), a landing only claims
 * room that is free (tryClaim; the loop's own subscriber must keep reading for the ring to
 * drain), and an idle loop sleeps at most IDLE_MS on the ring.
 */
import type { Publisher, Subscriber } from '../channel/endpoints.js';
import { ALL, ignoreTimeout, Inbound, LandedSeqs, Outbound, turn, type ChannelLinkOptions } from './frames.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

const BATCH = 1024;
const IDLE_MS = 1;

export interface BothWaysOptions extends ChannelLinkOptions {
  /** Stop once this many of the channel's own messages went out and this many came in (default: until aborted). */
  forwardCount?: number;
  landCount?: number;
  /** How long one message may take to send, or a large one to arrive, before the link counts as cut (default 30 s). */
  timeoutMs?: number;
}

export interface BothWaysResult {
  forwarded: number;
  landed: number;
  repeats: number;
}

export async function replicateBothWays(sub: Subscriber, pub: Publisher, worker: UcxWorker, peer: UcxPeer, options: BothWaysOptions): Promise<BothWaysResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const landedSeqs = new LandedSeqs();
  const out = new Outbound(worker, peer, options.tag, options.maxMessage, timeoutMs, landedSeqs);
  const inbound = new Inbound(options.maxMessage, landedSeqs);
  const forwardLimit = options.forwardCount ?? Number.POSITIVE_INFINITY;
  const landLimit = options.landCount ?? Number.POSITIVE_INFINITY;
  /** The length of a frame in the inbox that waits for room in the ring. */
  let pending: number | null = null;
  while ((out.sent < forwardLimit || inbound.landed < landLimit || pending !== null) && !options.signal?.aborted) {
    let did = sub.poll(out.send, BATCH);
    for (let i = 0; i < BATCH; i++) {
      if (pending === null) {
        const got = worker.tryRecv(options.tag, ALL, inbound.buf, timeoutMs);
        if (!got) break;
        did++;
        if (!inbound.isNew()) continue;
        pending = got.length;
      }
      const claim = pub.tryClaim(Inbound.messageLength(pending));
      if (!claim) break;
      inbound.land(claim, pending);
      pending = null;
      did++;
    }
    if (did > 0) await turn();
    else await sub.wait({ timeoutMs: IDLE_MS, ...(options.signal ? { signal: options.signal } : {}) }).catch(ignoreTimeout);
  }
  worker.flush(timeoutMs);
  return { forwarded: out.sent, landed: inbound.landed, repeats: inbound.repeats };
}
