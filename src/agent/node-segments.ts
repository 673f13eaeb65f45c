/**
 * The node's System V segments as the agent sees them (it runs with hostIPC): what exists,
 * carrying out a plan, and the traffic of each channel read from its segment.
 */
import { Channel } from '../channel/channel.js';
import type { ChannelRef } from '../channel/names.js';
import type { ChannelTraffic } from '../k8s/types.js';
import type { PresentSegment, SegmentAction } from './segment-plan.js';

export function presentSegments(): PresentSegment[] {
  return Channel.inventory().map((e) => ({
    key: e.key,
    shmId: e.shmId,
    attached: e.attached,
    sizeBytes: e.sizeBytes,
    ref: e.ref,
    settings: { mode: e.header.mode, capacity: e.header.capacity, maxMessage: e.header.maxMessage, slowConsumer: e.header.slowConsumer },
  }));
}

const label = (ref: ChannelRef) => `${ref.namespace}/${ref.name}`;

/** Carries out one action; throws ShimmyError (SEGMENT_EXISTS when a client won a race, say). */
export function apply(action: SegmentAction, permissions: number): void {
  if (action.kind === 'create') Channel.create(action.want.ref, { ...action.want.settings, permissions }).close();
  else if (action.kind === 'remove') Channel.removeSegment(action.present.key, action.present.shmId, label(action.present.ref));
}

/**
 * Reads the traffic of a channel. `bytes` counts ring bytes written since this reader first
 * saw the segment, `newMessages` and `newBytes` those since its previous reading (the tails
 * are 32-bit positions, so each reading adds the wrapped difference).
 */
export class TrafficReader {
  private readonly tails = new Map<number, { tails: number[]; bytes: number; messages: number }>();

  read(ref: ChannelRef): { traffic: ChannelTraffic; newMessages: number; newBytes: number } | undefined {
    let channel: Channel;
    try {
      channel = Channel.open(ref);
    } catch {
      return undefined;
    }
    try {
      const s = channel.stats();
      const before = this.tails.get(channel.key);
      let newBytes = 0;
      if (before && before.tails.length === s.tails.length) for (let i = 0; i < s.tails.length; i++) newBytes += (s.tails[i]! - before.tails[i]!) >>> 0;
      const newMessages = before ? (s.messages - before.messages) >>> 0 : 0;
      const bytes = (before?.bytes ?? 0) + newBytes;
      this.tails.set(channel.key, { tails: s.tails, bytes, messages: s.messages });
      const traffic: ChannelTraffic = {
        // Our own attachment is not one of the channel's users; a memory file counts its endpoints instead.
        attached: s.attached === null ? s.publishers + s.subscribers + s.streamEnds : Math.max(0, s.attached - 1),
        publishers: s.publishers,
        subscribers: s.subscribers,
        streamEnds: s.streamEnds,
        messages: s.messages >>> 0,
        bytes,
        lag: s.lag,
        lost: s.lost,
      };
      return { traffic, newMessages, newBytes };
    } finally {
      channel.close();
    }
  }

  forget(key: number): void {
    this.tails.delete(key);
  }
}
