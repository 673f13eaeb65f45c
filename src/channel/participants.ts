/**
 * The participant table: one 64-byte slot per attached publisher, subscriber or stream end,
 * holding its identity (pid, PID namespace), heartbeat and, for readers, its cursor.
 * Slots of dead participants are reclaimed by whoever notices first, except durable ones: the
 * node agent keeps state in those (what it landed from each peer) for the agent after it,
 * which adopts them; only their owner gives them up.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { HeaderWord, PARTICIPANTS, SLOT_BYTES } from './layout.js';
import { HEARTBEAT_TIMEOUT_MS, OWN_PID_NAMESPACE, OWN_START_TIME, processLiveness } from './liveness.js';

export const SlotState = { free: 0, active: 1, claiming: 2 } as const;
export const Role = { publisher: 1, subscriber: 2, streamEnd: 3 } as const;
export type RoleName = keyof typeof Role;

/** Word indexes (u32) inside a participant slot. */
export const SlotWord = {
  state: 0,
  gen: 1,
  role: 2,
  pid: 3,
  pidNs: 4,
  heartbeat: 5,
  cursor: 6,
  expectedSeq: 7,
  lost: 8,
  delivered: 9,
  ring: 10,
  /** The participant's process start time (liveness.ts), telling a reused pid apart; 0: not recorded. */
  startTime: 11,
  /** DURABLE on a durable slot (never reclaimed by others), else 0. */
  durable: 12,
  /** Which durable slot this is, for the owner that adopts it. */
  durableId: 13,
} as const;

export const DURABLE = 0x4c425244;
/** How long a durable subscriber's place outlives its owner's last heartbeat (see abandoned()). */
export const DURABLE_READER_TIMEOUT_MS = 60_000;
/** The words a durable publisher's owner keeps its state in (a publisher has no reader progress). */
export const DURABLE_STATE_WORDS = [SlotWord.cursor, SlotWord.expectedSeq, SlotWord.lost, SlotWord.delivered, 14, 15] as const;
/** The state word a node agent's stream taker keeps its take note's state in (take-note.ts). */
export const TAKE_NOTE_WORD = 14;

const SLOT_WORDS = SLOT_BYTES / 4;

export interface SlotSnapshot {
  index: number;
  role: RoleName;
  pid: number;
  alive: boolean;
  ring: number;
  cursor: number;
  expectedSeq: number;
  lost: number;
  delivered: number;
  heartbeatAgeMs: number;
}

export class ParticipantTable {
  readonly count: number;
  private readonly u32: Uint32Array;
  /** How long a participant outside our PID namespace may go without a heartbeat before it counts as dead. */
  readonly heartbeatTimeoutMs: number;
  private readonly createdAtMs: number;

  constructor(buffer: ArrayBuffer, count: number, createdAtMs: number, heartbeatTimeoutMs = HEARTBEAT_TIMEOUT_MS) {
    this.count = count;
    this.heartbeatTimeoutMs = heartbeatTimeoutMs;
    this.u32 = new Uint32Array(buffer, 0, (PARTICIPANTS + count * SLOT_BYTES) / 4);
    this.createdAtMs = createdAtMs;
    if (this.u32[HeaderWord.maxParticipants] !== count)
      throw new ShimmyError(
        ErrorCode.CORRUPT_HEADER,
        `The participant table holds ${this.u32[HeaderWord.maxParticipants]} slots, the header says ${count}`,
        'Remove and recreate the channel',
      );
  }

  /** Milliseconds since channel creation, modulo 2^32: the heartbeat clock. */
  now(): number {
    return (Date.now() - this.createdAtMs) >>> 0;
  }

  base(slot: number): number {
    return PARTICIPANTS / 4 + slot * SLOT_WORDS;
  }

  word(slot: number, field: number): number {
    return Atomics.load(this.u32, this.base(slot) + field);
  }

  setWord(slot: number, field: number, value: number): void {
    Atomics.store(this.u32, this.base(slot) + field, value >>> 0);
  }

  /** A statistic nobody synchronizes on: a plain store, no fence. */
  setStat(slot: number, field: number, value: number): void {
    this.u32[this.base(slot) + field] = value >>> 0;
  }

  /** Owner token used by locks: generation and slot index, never 0. */
  token(slot: number): number {
    return (((this.word(slot, SlotWord.gen) & 0xffffff) << 8) | (slot + 1)) >>> 0;
  }

  /** The slot a lock owner `token` names, or null when it names none (no Shimmy participant wrote it). */
  slotOf(token: number): number | null {
    const slot = (token & 0xff) - 1;
    return slot >= 0 && slot < this.count ? slot : null;
  }

  /** True when the holder of `token` is gone: its slot was reused, freed, or its process died. */
  tokenHolderDead(token: number): boolean {
    const slot = this.slotOf(token);
    if (slot === null) return true;
    if ((this.word(slot, SlotWord.gen) & 0xffffff) !== token >>> 8) return true;
    if (this.word(slot, SlotWord.state) !== SlotState.active) return true;
    return this.isDead(slot);
  }

  isDead(slot: number): boolean {
    const live = processLiveness(this.word(slot, SlotWord.pid), this.word(slot, SlotWord.pidNs), this.word(slot, SlotWord.startTime));
    if (live !== 'unknown') return live === 'dead';
    const age = (this.now() - this.word(slot, SlotWord.heartbeat)) | 0;
    return age > this.heartbeatTimeoutMs;
  }

  /**
   * Claims a free slot for this process. `init` fills role-specific words while the slot is
   * still marked claiming, so nobody reads a half-made participant.
   */
  claim(role: RoleName, ring: number, init: (slot: number) => void = () => {}): number {
    for (let attempt = 0; attempt < 2; attempt++) {
      for (let slot = 0; slot < this.count; slot++) {
        const b = this.base(slot);
        // Stryker disable next-line ArithmeticOperator: SlotWord.state is word 0 of a slot, so base - state and base + state are the same index
        if (Atomics.compareExchange(this.u32, b + SlotWord.state, SlotState.free, SlotState.claiming) !== SlotState.free) continue;
        Atomics.store(this.u32, b + SlotWord.gen, (this.u32[b + SlotWord.gen]! + 1) >>> 0);
        Atomics.store(this.u32, b + SlotWord.role, Role[role]);
        Atomics.store(this.u32, b + SlotWord.pid, process.pid);
        Atomics.store(this.u32, b + SlotWord.pidNs, OWN_PID_NAMESPACE);
        Atomics.store(this.u32, b + SlotWord.startTime, OWN_START_TIME);
        Atomics.store(this.u32, b + SlotWord.heartbeat, this.now());
        Atomics.store(this.u32, b + SlotWord.ring, ring);
        for (const f of [...DURABLE_STATE_WORDS, SlotWord.durable, SlotWord.durableId]) Atomics.store(this.u32, b + f, 0);
        init(slot);
        // Stryker disable next-line ArithmeticOperator: SlotWord.state is word 0 of a slot, so base - state and base + state are the same index
        Atomics.store(this.u32, b + SlotWord.state, SlotState.active);
        return slot;
      }
      this.reclaimDead();
    }
    throw new ShimmyError(
      ErrorCode.NO_FREE_SLOT,
      `All ${this.count} participant slots of this channel are taken by live processes`,
      'Close unused publishers/subscribers, or recreate the channel with a larger participant table',
    );
  }

  /**
   * A durable slot (`durableId`, role and ring) for this process: the one a dead owner (or
   * an earlier owner in this process) left, taken over with its state, or else a new one.
   * Two live owners of one durable slot are a conflict, unless the caller knows better
   * (`takeOver`: it holds a lock that its earlier owner held until it died).
   */
  claimDurable(role: RoleName, ring: number, durableId: number, takeOver = false, init: (slot: number) => void = () => {}): { slot: number; adopted: boolean } {
    for (let slot = 0; slot < this.count; slot++) {
      const b = this.base(slot);
      if (Atomics.load(this.u32, b + SlotWord.state) !== SlotState.active) continue;
      if (this.word(slot, SlotWord.durable) !== DURABLE || this.word(slot, SlotWord.durableId) !== durableId >>> 0) continue;
      if (this.word(slot, SlotWord.role) !== Role[role] || this.word(slot, SlotWord.ring) !== ring) continue;
      const ours = this.word(slot, SlotWord.pid) === process.pid && this.word(slot, SlotWord.pidNs) === OWN_PID_NAMESPACE;
      if (!ours && !takeOver && !this.isDead(slot)) {
        throw new ShimmyError(
          ErrorCode.PUBLISHER_CONFLICT,
          `Durable slot ${durableId >>> 0} of this channel is held by live process ${this.word(slot, SlotWord.pid)}`,
          'Run one node agent per node',
        );
      }
      const gen = this.word(slot, SlotWord.gen);
      if (Atomics.compareExchange(this.u32, b + SlotWord.state, SlotState.active, SlotState.claiming) !== SlotState.active) continue;
      if (Atomics.load(this.u32, b + SlotWord.gen) !== gen) {
        Atomics.store(this.u32, b + SlotWord.state, SlotState.active);
        continue;
      }
      Atomics.store(this.u32, b + SlotWord.gen, (gen + 1) >>> 0);
      Atomics.store(this.u32, b + SlotWord.pid, process.pid);
      Atomics.store(this.u32, b + SlotWord.pidNs, OWN_PID_NAMESPACE);
      Atomics.store(this.u32, b + SlotWord.startTime, OWN_START_TIME);
      Atomics.store(this.u32, b + SlotWord.heartbeat, this.now());
      Atomics.store(this.u32, b + SlotWord.state, SlotState.active);
      return { slot, adopted: true };
    }
    const slot = this.claim(role, ring, (s) => {
      init(s);
      Atomics.store(this.u32, this.base(s) + SlotWord.durableId, durableId >>> 0);
      Atomics.store(this.u32, this.base(s) + SlotWord.durable, DURABLE);
    });
    return { slot, adopted: false };
  }

  /** Frees this process's own slot, if it still owns it. */
  release(slot: number, gen: number): void {
    if ((this.word(slot, SlotWord.gen) & 0xffffff) !== (gen & 0xffffff)) return;
    // Stryker disable next-line ArithmeticOperator: SlotWord.state is word 0 of a slot, so base - state and base + state are the same index
    Atomics.compareExchange(this.u32, this.base(slot) + SlotWord.state, SlotState.active, SlotState.free);
  }

  /** Frees the slot if its participant is dead. Returns true when it did. */
  reclaimIfDead(slot: number): boolean {
    const state = this.word(slot, SlotWord.state);
    if (state === SlotState.free) return false;
    if (state === SlotState.active && this.word(slot, SlotWord.durable) === DURABLE && !this.abandoned(slot)) return false;
    const gen = this.word(slot, SlotWord.gen);
    if (!this.isDead(slot)) return false;
    // Between the look and now, another process may have reclaimed the slot and a live
    // participant claimed it (a new generation): hold the slot as claiming while we check
    // that it is still the one judged dead, and give it back untouched if not.
    const b = this.base(slot);
    // Stryker disable next-line ArithmeticOperator: SlotWord.state is word 0 of a slot, so base - state and base + state are the same index
    const stateWord = b + SlotWord.state;
    if (Atomics.compareExchange(this.u32, stateWord, state, SlotState.claiming) !== state) return false;
    if (Atomics.load(this.u32, b + SlotWord.gen) !== gen) {
      Atomics.store(this.u32, stateWord, state);
      return false;
    }
    Atomics.store(this.u32, stateWord, SlotState.free);
    return true;
  }

  /**
   * A durable subscriber (the node agent's place in a ring) holds the ring's space while no
   * agent runs: it is let go once it has had no heartbeat for DURABLE_READER_TIMEOUT_MS, so a
   * node whose agent never comes back does not hold its publishers for ever.
   */
  private abandoned(slot: number): boolean {
    if (this.word(slot, SlotWord.role) !== Role.subscriber) return false;
    // A take note waits for the next agent however long (take-note.ts): it says which messages are whose.
    if ((this.word(slot, TAKE_NOTE_WORD) & 3) !== 0) return false;
    return ((this.now() - this.word(slot, SlotWord.heartbeat)) | 0) > DURABLE_READER_TIMEOUT_MS;
  }

  reclaimDead(): number {
    let n = 0;
    for (let slot = 0; slot < this.count; slot++) if (this.reclaimIfDead(slot)) n++;
    return n;
  }

  /** Active slots of a role on a ring: used for the slowest-subscriber scan. */
  forEachActive(role: RoleName, ring: number, fn: (slot: number) => void): void {
    const want = Role[role];
    const u32 = this.u32;
    for (let slot = 0; slot < this.count; slot++) {
      const b = this.base(slot);
      if (Atomics.load(u32, b + SlotWord.state) === SlotState.active && u32[b + SlotWord.role] === want && u32[b + SlotWord.ring] === ring) fn(slot);
    }
  }

  snapshot(): SlotSnapshot[] {
    const out: SlotSnapshot[] = [];
    const now = this.now();
    for (let slot = 0; slot < this.count; slot++) {
      if (this.word(slot, SlotWord.state) !== SlotState.active) continue;
      const role = (Object.keys(Role) as RoleName[]).find((k) => Role[k] === this.word(slot, SlotWord.role));
      if (!role) continue;
      out.push({
        index: slot,
        role,
        pid: this.word(slot, SlotWord.pid),
        alive: !this.isDead(slot),
        ring: this.word(slot, SlotWord.ring),
        cursor: this.word(slot, SlotWord.cursor),
        expectedSeq: this.word(slot, SlotWord.expectedSeq),
        lost: this.word(slot, SlotWord.lost),
        delivered: this.word(slot, SlotWord.delivered),
        heartbeatAgeMs: (now - this.word(slot, SlotWord.heartbeat)) | 0,
      });
    }
    return out;
  }
}
