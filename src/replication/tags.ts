/**
 * Tags on the link between node replicators: the high 32 bits are the channel's key (the same
 * on every node), then one bit for the kind (a data frame, or an acknowledgement going back),
 * then 31 bits of a hash of the node that sends it and the link protocol's version, so a
 * receiver takes each peer's frames of each channel separately on one worker, and agents of
 * another protocol version never take each other's frames: during a rolling upgrade across
 * versions they do not replicate with each other, and nothing is misread.
 */
import { fnv1a } from '../channel/names.js';

export type FrameKind = 'data' | 'ack';

/** 2: a MAC on every message, and batches of messages per data frame. */
export const LINK_PROTOCOL = 2;

export function channelTag(key: number, kind: FrameKind, node: string, protocol = LINK_PROTOCOL): bigint {
  // Version 1 hashed the node name alone.
  const sender = BigInt(fnv1a(protocol === 1 ? `shimmy/node/${node}` : `shimmy/link-v${protocol}/node/${node}`) & 0x7fffffff);
  return (BigInt(key >>> 0) << 32n) | (kind === 'ack' ? 0x80000000n : 0n) | sender;
}
