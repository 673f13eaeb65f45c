/** Participant tables and slots made by hand, for in-process tests of liveness, slots and locks. */
import { randomBytes } from 'node:crypto';
import { HeaderWord, PARTICIPANTS, RING_CONTROL, RingWord, SLOT_BYTES, headerBytes } from '../../src/channel/layout.js';
import { HEARTBEAT_TIMEOUT_MS, OWN_PID_NAMESPACE } from '../../src/channel/liveness.js';
import { ParticipantTable, Role, SlotState, SlotWord } from '../../src/channel/participants.js';
import type { Address } from '../../src/shm/native.js';
import { Segment } from '../../src/shm/segment.js';

/** A PID namespace that is not ours: the kernel cannot speak for its processes, only heartbeats can. */
export const OTHER_PID_NAMESPACE = (OWN_PID_NAMESPACE + 1) >>> 0;

/** A participant table of `count` slots in ordinary memory, its header saying `count`. */
export function memoryTable(count: number, options: { createdAtMs?: number; heartbeatTimeoutMs?: number; headerSays?: number } = {}) {
  const buffer = new ArrayBuffer(PARTICIPANTS + count * SLOT_BYTES);
  const u32 = new Uint32Array(buffer);
  u32[HeaderWord.maxParticipants] = options.headerSays ?? count;
  const make = () => new ParticipantTable(buffer, count, options.createdAtMs ?? Date.now(), options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS);
  return { buffer, u32, make };
}

export interface ForgedSlot {
  state?: number;
  gen?: number;
  role?: number;
  pid?: number;
  pidNs?: number;
  /** How long ago its last heartbeat was, on the table's clock. */
  heartbeatAgeMs?: number;
  ring?: number;
}

/** Writes a participant into `slot` as another process would have; returns its lock token. */
export function forgeSlot(table: ParticipantTable, slot: number, f: ForgedSlot = {}): number {
  table.setWord(slot, SlotWord.gen, f.gen ?? 1);
  table.setWord(slot, SlotWord.role, f.role ?? Role.publisher);
  table.setWord(slot, SlotWord.pid, f.pid ?? process.pid);
  table.setWord(slot, SlotWord.pidNs, f.pidNs ?? OWN_PID_NAMESPACE);
  table.setWord(slot, SlotWord.heartbeat, table.now() - (f.heartbeatAgeMs ?? 0));
  table.setWord(slot, SlotWord.ring, f.ring ?? 0);
  table.setWord(slot, SlotWord.state, f.state ?? SlotState.active);
  return table.token(slot);
}

export interface LockSegment {
  table: ParticipantTable;
  /** The segment's words; the lock word is `u32[index]`. */
  u32: Uint32Array;
  index: number;
  /** The lock word's address, for futex waits. */
  address: Address;
  remove(): void;
}

/**
 * A real System V segment holding a participant table of `count` slots and a lock word where
 * ring 0's write lock lives, so a RecoverableLock over it can sleep on a futex as in a channel.
 */
export function lockSegment(count: number, heartbeatTimeoutMs = HEARTBEAT_TIMEOUT_MS): LockSegment {
  const seg = { key: randomBytes(4).readInt32LE() || 1, label: 'shimmy-test/lock' };
  const segment = Segment.create(seg, headerBytes(count), 0o600);
  const u32 = new Uint32Array(segment.buffer);
  u32[HeaderWord.maxParticipants] = count;
  const index = RING_CONTROL / 4 + RingWord.writeLock;
  return {
    table: new ParticipantTable(segment.buffer, count, Date.now(), heartbeatTimeoutMs),
    u32,
    index,
    address: segment.wordAddress(index * 4),
    remove() {
      Segment.remove(seg, segment.id);
      segment.detach();
    },
  };
}
