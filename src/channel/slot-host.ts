/**
 * What an endpoint (publisher, subscriber, stream end) needs from the channel that made it:
 * its participant slot, the ring's locks, and whether the channel is still open. Endpoints
 * depend on this, not on Channel, so dependencies point one way (channel → endpoints).
 */
import type { ShimmyError } from '../errors.js';
import type { RecoverableLock } from './lock.js';
import type { RoleName } from './participants.js';

export interface StateWords {
  readonly count: number;
  get(i: number): number;
  set(i: number, value: number): void;
}

export interface SlotHost {
  /** The channel was closed (or its segment removed under it): endpoints must stop. */
  readonly isClosed: boolean;
  /** Why endpoints stopped when the segment was removed under them; null otherwise. */
  removedError(): ShimmyError | null;
  /** Claims a participant slot on ring `ring` and keeps its heartbeat going. */
  claimSlot(role: RoleName, ring: number): number;
  releaseSlot(slot: number): void;
  /**
   * Takes over the durable slot `durableId` a dead owner left (adopted; any owner with `takeOver`), or claims a new one
   * (`init` fills its words before it goes active).
   */
  claimDurableSlot(role: RoleName, ring: number, durableId: number, takeOver?: boolean, init?: (slot: number) => void): { slot: number; adopted: boolean };
  /** Stops owning a durable slot without freeing it: the next owner adopts it. */
  leaveSlot(slot: number): void;
  /** A durable slot's state words (participants.ts: DURABLE_STATE_WORDS), kept for its next owner. */
  stateWords(slot: number): StateWords;
  lockFor(ring: number, which: 'write' | 'read', slot: number): RecoverableLock;
  /** Frees `slot` when its holder is dead; true when it did. */
  reclaimIfDead(slot: number): boolean;
}
