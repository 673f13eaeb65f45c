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
import { ALL, ignoreTimeout, Inbound, Outbound, turn, type ChannelLinkOptions, type LandedSeqs } from './frames.js';
import type { UcxPeer, UcxWorker } from './ucx.js';

const YIELD_EVERY = 1024;
const RECV_SLICE_MS = 50;

export interface OneWayOptions extends ChannelLinkOptions {
  /** Stop after this many messages (default: until aborted). */
  count?: number;
  /** How long one message may take to send before the link counts as cut (default 30 s). */
  sendTimeoutMs?: number;
  /** Shared by the lander and the forwarder of one channel in one process (both directions). */
  landed?: LandedSeqs;
}

/** Sends what the subscriber gets to `peer`; resolves to how many messages it sent. */
export async function forward(sub: Subscriber, worker: UcxWorker, peer: UcxPeer, options: OneWayOptions): Promise<number> {
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const timeoutMs = options.sendTimeoutMs ?? 30_000;
  const out = new Outbound(worker, peer, options.tag, options.maxMessage, timeoutMs, options.landed);
  while (out.sent < limit && !options.signal?.aborted) {
    const n = sub.poll(out.send, Math.min(YIELD_EVERY, limit - out.sent));
    if (n > 0) await turn();
    else await sub.wait({ timeoutMs: RECV_SLICE_MS, ...(options.signal ? { signal: options.signal } : {}) }).catch(ignoreTimeout);
  }
  worker.flush(timeoutMs);
  return out.sent;
}

/** Publishes what arrives from the link; resolves to the messages landed and the repeats dropped. */
export async function land(pub: Publisher, worker: UcxWorker, options: OneWayOptions): Promise<{ landed: number; repeats: number }> {
  const inbound = new Inbound(options.maxMessage, options.landed);
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  while (inbound.landed < limit && !options.signal?.aborted) {
    let length: number;
    try {
      ({ length } = worker.recv(options.tag, ALL, inbound.buf, RECV_SLICE_MS));
    } catch (err) {
      ignoreTimeout(err);
      await turn();
      continue;
    }
    if (!inbound.isNew()) continue;
    inbound.land(await pub.claim(Inbound.messageLength(length)), length);
    if (inbound.landed % YIELD_EVERY === 0) await turn();
  }
  return { landed: inbound.landed, repeats: inbound.repeats };
}
