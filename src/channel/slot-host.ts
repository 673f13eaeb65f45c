/**
 * What an endpoint (publisher, subscriber, stream end) needs from the channel that made it:
 * its participant slot, the ring's locks, and whether the channel is still open. Endpoints
 * depend on this, not on Channel, so dependencies point one way (channel → endpoints).
 */
import type { ShimmyError } from '../errors.js';
import type { RecoverableLock } from './lock.js';
import type { RoleName } from './participants.js';

export interface SlotHost {
  /** The channel was closed (or its segment removed under it): endpoints must stop. */
  readonly isClosed: boolean;
  /** Why endpoints stopped when the segment was removed under them; null otherwise. */
  removedError(): ShimmyError | null;
  /** Claims a participant slot on ring `ring` and keeps its heartbeat going. */
  claimSlot(role: RoleName, ring: number): number;
  releaseSlot(slot: number): void;
  lockFor(ring: number, which: 'write' | 'read', slot: number): RecoverableLock;
  /** Frees `slot` when its holder is dead; true when it did. */
  reclaimIfDead(slot: number): boolean;
}
