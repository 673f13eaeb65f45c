/**
 * The node's channel memory as the agent sees it, one store per kind: System V segments (it
 * runs with hostIPC) and memory files (channel-files.ts); and the traffic of each channel
 * read from its memory.
 */
import { Channel } from '../channel/channel.js';
import { channelKey, type ChannelRef } from '../channel/names.js';
import type { ChannelTraffic, MemoryKind } from '../k8s/types.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { ownerProblem } from '../channel/segment-trust.js';
import { Segment, type SegmentOwner } from '../shm/segment.js';
import { settingsOf, type PresentSegment, type SegmentSettings } from './segment-plan.js';

export interface MemoryStore {
  readonly kind: MemoryKind;
  present(): PresentSegment[];
  /** Makes the channel's memory; with `owner` (System V only), as that creator and owner, replacing a segment under the key that is not so. Resolves to whether it replaced one. */
  create(ref: ChannelRef, settings: SegmentSettings, permissions: number, owner?: SegmentOwner): Promise<{ replaced: boolean }>;
  remove(present: PresentSegment): Promise<void>;
  /** Opens the channel to read its traffic. */
  open(ref: ChannelRef): Channel;
}

function presentSegments(): PresentSegment[] {
  return Channel.inventory().map((e) => ({
    key: e.key,
    shmId: e.shmId,
    attached: e.attached,
    sizeBytes: e.sizeBytes,
    ref: e.ref,
    settings: settingsOf(e.header),
    perms: e.perms,
  }));
}

/**
 * Creates a channel's segment. A hardened one (`owner`) whose key is taken by a segment that
 * is not the agent's, one the inventory could not read as a channel (a squatter's, say), has
 * that segment removed first: attached processes keep their mapping, the key is free at once.
 */
export async function createSegment(ref: ChannelRef, settings: SegmentSettings, permissions: number, owner?: SegmentOwner): Promise<{ replaced: boolean }> {
  // A hardened segment is always 0660: owner and the channel's group, nobody else.
  const create = () => Channel.create(ref, { ...settings, ...(owner ? { owner, permissions: 0o660 } : { permissions }) }).close();
  try {
    create();
    return { replaced: false };
  } catch (err) {
    if (!owner || !(err instanceof ShimmyError) || err.code !== ErrorCode.SEGMENT_EXISTS) throw err;
    const key = channelKey(ref);
    const id = Segment.lookup(key);
    if (id === null) throw err;
    const info = Segment.stat({ key, label: label(ref) }, id);
    if (ownerProblem(info, owner) === undefined) throw err;
    Segment.remove({ key, label: label(ref) }, id);
    create();
    return { replaced: true };
  }
}

const label = (ref: ChannelRef) => `${ref.namespace}/${ref.name}`;

/** System V segments; a failure throws ShimmyError (SEGMENT_EXISTS when a client won a race, say). */
export const segmentStore: MemoryStore = {
  kind: 'HostIPC',
  present: presentSegments,
  create: createSegment,
  remove: async (present) => Channel.removeSegment(present.key, present.shmId!, label(present.ref)),
  open: (ref) => Channel.open(ref),
};

/**
 * Reads the traffic of a channel. `bytes` counts ring bytes written since this reader first
 * saw the segment, `newMessages` and `newBytes` those since its previous reading (the tails
 * are 32-bit positions, so each reading adds the wrapped difference).
 */
export class TrafficReader {
  private readonly tails = new Map<number, { tails: number[]; bytes: number; messages: number }>();

  read(ref: ChannelRef, store: MemoryStore): { traffic: ChannelTraffic; newMessages: number; newBytes: number } | undefined {
    let channel: Channel;
    try {
      channel = store.open(ref);
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
