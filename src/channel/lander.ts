/**
 * The node agent's publisher for the messages it lands from one peer node. Its records carry
 * REMOTE_FLAG (the agent's forwarder does not send them back), a frame goes in whole or not at
 * all, and its slot is durable: what it last landed, kept in the slot's state words, outlives
 * the agent, and the next agent adopts the slot and goes on from there.
 */
import { REMOTE_FLAG } from './layout.js';
import { WriterEndpoint } from './endpoints.js';
import type { BeforePublish } from './ring-writer.js';
import { RECORD_KIND, type RingView } from './ring-view.js';
import type { SlotHost, StateWords } from './slot-host.js';

export class Lander extends WriterEndpoint {
  /** The slot was left by an earlier agent: `state` holds what that agent wrote. */
  readonly adopted: boolean;
  readonly state: StateWords;

  constructor(channel: SlotHost, ring: RingView, durableId: number, takeOver = false) {
    const { slot, adopted } = channel.claimDurableSlot('publisher', ring.index, durableId, takeOver);
    super(channel, ring, slot, 'lander');
    this.adopted = adopted;
    this.state = channel.stateWords(slot);
  }

  /**
   * Lands the records in `records[from .. to)` (laid out as in a ring: RingWriter.tryWriteRecords)
   * as one batch: how many, or -1 for none (no room for all of them now, or another writer holds
   * the lock). `beforePublish` gets the first record's position and sequence number, where the
   * batch ends and how many records it has, just before readers can see them.
   */
  tryLand(records: Uint8Array, from: number, to: number, beforePublish: BeforePublish): number {
    this.assertOpen();
    const n = this.writer.tryWriteRecords(records, from, to, REMOTE_FLAG, beforePublish);
    // No room: a dead subscriber may be what holds the ring (nobody else may write here to notice).
    return n >= 0 || !this.reclaimStalled() ? n : this.writer.tryWriteRecords(records, from, to, REMOTE_FLAG, beforePublish);
  }

  /** Whether the ring holds a landed record with sequence number `seq` at position `pos`: a batch that became visible. */
  landedAt(pos: number, seq: number): boolean {
    const idx = pos & this.ring.mask;
    if ((idx & 7) !== 0) return false;
    const head = Atomics.load(this.ring.words, idx >>> 2);
    return head >>> 30 === RECORD_KIND && (head & REMOTE_FLAG) !== 0 && this.ring.words[(idx >>> 2) + 1] === seq >>> 0;
  }

  /** Detaches and leaves the slot, with its state, to the next agent. */
  leave(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.leaveSlot(this.slot);
  }

  /** Gives the slot up with its state: the peer's messages no longer come here. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.releaseSlot(this.slot);
  }
}
