/**
 * Tags on the link between node replicators: the high 32 bits are the channel's key (the same
 * on every node), then one bit for the kind (a data frame, or an acknowledgement going back),
 * then 31 bits of a hash of the node that sends it, so a receiver takes each peer's frames of
 * each channel separately on one worker.
 */
import { fnv1a } from '../channel/names.js';

export type FrameKind = 'data' | 'ack';

export function channelTag(key: number, kind: FrameKind, node: string): bigint {
  const sender = BigInt(fnv1a(`shimmy/node/${node}`) & 0x7fffffff);
  return (BigInt(key >>> 0) << 32n) | (kind === 'ack' ? 0x80000000n : 0n) | sender;
}
