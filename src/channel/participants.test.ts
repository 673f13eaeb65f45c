import { afterEach, describe, expect, it, vi } from 'vitest';
import { OWN_PID_NAMESPACE, OWN_START_TIME } from './liveness.js';
import { ParticipantTable, Role, SlotState, SlotWord } from './participants.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { killStarted } from '../../test/helpers/proc.js';
import { deadPid } from '../../test/helpers/pids.js';
import { OTHER_PID_NAMESPACE, forgeSlot, memoryTable } from '../../test/helpers/slots.js';

// The participant table in ordinary memory: other participants are forged slots (alive: this
// process, or a fresh heartbeat in another PID namespace; dead: a reaped child's pid, or a
// stale heartbeat).

afterEach(() => {
  vi.restoreAllMocks();
  killStarted();
});

const table = (count = 4, heartbeatTimeoutMs?: number) => memoryTable(count, { heartbeatTimeoutMs }).make();
const T = 5000;

/** Date.now() under the test's control. */
function mockClock(start = 1_700_000_000_000) {
  let now = start;
  vi.spyOn(Date, 'now').mockImplementation(() => now);
  return {
    set(ms: number) {
      now = ms;
    },
  };
}

/** Every word of every slot, to see that an operation touched only what it should. */
function words(t: ParticipantTable): number[][] {
  return Array.from({ length: t.count }, (_, slot) => Array.from({ length: 16 }, (_, w) => t.word(slot, w)));
}

describe('ParticipantTable construction', () => {
  it('refuses a table whose header disagrees on the slot count (CORRUPT_HEADER), saying both', () => {
    const made = memoryTable(4, { headerSays: 9 });
    let err: unknown;
    try {
      made.make();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShimmyError);
    expect((err as ShimmyError).code).toBe(ErrorCode.CORRUPT_HEADER);
    expect((err as ShimmyError).message).toContain('The participant table holds 9 slots, the header says 4');
    expect((err as ShimmyError).hint).toBe('Remove and recreate the channel');
  });

  it('keeps its heartbeat clock in milliseconds since the channel was created, modulo 2^32', () => {
    const clock = mockClock();
    const t = memoryTable(2, { createdAtMs: 1_700_000_000_000 }).make();
    clock.set(1_700_000_001_234);
    expect(t.now()).toBe(1234);
    clock.set(1_700_000_000_000 + 2 ** 32 + 5);
    expect(t.now()).toBe(5);
  });
});

describe('ParticipantTable.claim', () => {
  it('hands out the first free slot with this process, its namespace, a fresh heartbeat, the ring and generation 1', () => {
    const t = table();
    forgeSlot(t, 0);
    const slot = t.claim('subscriber', 1);
    expect(slot).toBe(1);
    expect(t.word(slot, SlotWord.state)).toBe(SlotState.active);
    expect(t.word(slot, SlotWord.gen)).toBe(1);
    expect(t.word(slot, SlotWord.role)).toBe(Role.subscriber);
    expect(t.word(slot, SlotWord.pid)).toBe(process.pid);
    expect(t.word(slot, SlotWord.pidNs)).toBe(OWN_PID_NAMESPACE);
    expect(t.word(slot, SlotWord.ring)).toBe(1);
    expect(Math.abs(t.now() - t.word(slot, SlotWord.heartbeat))).toBeLessThan(1000);
    expect(t.token(slot)).toBe((1 << 8) | 2);
  });

  it('overwrites every word a previous occupant left, and touches no other slot', () => {
    const t = table(3);
    const junk = 0xdeadbeef;
    for (let w = 0; w < 16; w++) for (let s = 0; s < 3; s++) t.setWord(s, w, junk);
    t.setWord(0, SlotWord.state, SlotState.active);
    t.setWord(1, SlotWord.state, SlotState.free);
    t.setWord(1, SlotWord.gen, 41);
    t.setWord(2, SlotWord.state, SlotState.active);
    const before = words(t);
    const slot = t.claim('streamEnd', 0);
    expect(slot).toBe(1);
    const after = words(t);
    expect(after[0]).toEqual(before[0]);
    expect(after[2]).toEqual(before[2]);
    expect(after[1]!.slice(0, 12)).toEqual([
      SlotState.active,
      42,
      Role.streamEnd,
      process.pid,
      OWN_PID_NAMESPACE,
      after[1]![SlotWord.heartbeat],
      0,
      0,
      0,
      0,
      0,
      OWN_START_TIME,
    ]);
    expect(Math.abs(t.now() - after[1]![SlotWord.heartbeat]!)).toBeLessThan(1000);
  });

  it('counts generations up each time a slot is claimed again', () => {
    const t = table(2);
    const gens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const slot = t.claim('publisher', 0);
      expect(slot).toBe(0);
      gens.push(t.word(slot, SlotWord.gen));
      t.release(slot, t.word(slot, SlotWord.gen));
    }
    expect(gens).toEqual([1, 2, 3]);
  });

  it('lets init fill the slot while it is still marked claiming', () => {
    const t = table(2);
    const seen: Array<[number, number]> = [];
    const slot = t.claim('subscriber', 0, (s) => {
      seen.push([s, t.word(s, SlotWord.state)]);
      t.setWord(s, SlotWord.cursor, 77);
    });
    expect(seen).toEqual([[slot, SlotState.claiming]]);
    expect(t.word(slot, SlotWord.cursor)).toBe(77);
    expect(t.word(slot, SlotWord.state)).toBe(SlotState.active);
  });

  it('frees the slot of a dead participant when the table is full', async () => {
    const t = table(2);
    forgeSlot(t, 0);
    forgeSlot(t, 1, { gen: 5, pid: await deadPid() });
    expect(t.claim('publisher', 0)).toBe(1);
    expect(t.word(1, SlotWord.gen)).toBe(6);
    expect(t.word(1, SlotWord.pid)).toBe(process.pid);
  });

  it('refuses with NO_FREE_SLOT when every slot belongs to a live participant', () => {
    const t = table(2);
    forgeSlot(t, 0);
    forgeSlot(t, 1, { pidNs: OTHER_PID_NAMESPACE });
    let err: unknown;
    try {
      t.claim('publisher', 0);
    } catch (e) {
      err = e;
    }
    expect((err as ShimmyError).code).toBe(ErrorCode.NO_FREE_SLOT);
    expect((err as ShimmyError).message).toContain('All 2 participant slots of this channel are taken by live processes');
    expect((err as ShimmyError).hint).toBe('Close unused publishers/subscribers, or recreate the channel with a larger participant table');
  });
});

describe('ParticipantTable.release', () => {
  it('frees its own slot', () => {
    const t = table(2);
    const slot = t.claim('publisher', 0);
    t.release(slot, 1);
    expect(t.word(slot, SlotWord.state)).toBe(SlotState.free);
  });

  it('leaves the slot alone once a newer participant owns it', () => {
    const t = table(2);
    const slot = t.claim('publisher', 0);
    forgeSlot(t, slot, { gen: 2, pidNs: OTHER_PID_NAMESPACE }); // reclaimed and claimed again elsewhere
    t.release(slot, 1);
    expect(t.word(slot, SlotWord.state)).toBe(SlotState.active);
  });
});

describe('ParticipantTable.tokenHolderDead', () => {
  it('is false for the token of a live, active participant, in the first slot as in any', () => {
    const t = table(3);
    for (const slot of [0, 2]) expect(t.tokenHolderDead(forgeSlot(t, slot))).toBe(false);
  });

  it('is true for a token that names no slot of the table', () => {
    const t = table(3);
    for (let s = 0; s < 3; s++) forgeSlot(t, s);
    expect(t.tokenHolderDead(1 << 8)).toBe(true); // slot byte 0
    expect(t.tokenHolderDead((1 << 8) | 4)).toBe(true); // slot 3 of 3
    expect(t.tokenHolderDead((1 << 8) | 255)).toBe(true);
  });

  it('never judges a token with slot byte 0 by the words just before the table', () => {
    const made = memoryTable(2);
    const t = made.make();
    // Where "slot -1" would be, words that look like a live, active participant of generation 0 and 1.
    const before = t.base(-1);
    made.u32.set([SlotState.active, 0, Role.publisher, process.pid, OWN_PID_NAMESPACE], before);
    expect(t.tokenHolderDead(0)).toBe(true);
    made.u32[before + SlotWord.gen] = 1;
    expect(t.tokenHolderDead(1 << 8)).toBe(true);
  });

  it('is true once the slot has a new generation, even though its new owner lives', () => {
    const t = table(2);
    const old = forgeSlot(t, 1, { gen: 3 });
    forgeSlot(t, 1, { gen: 4 });
    expect(t.tokenHolderDead(old)).toBe(true);
    expect(t.tokenHolderDead(t.token(1))).toBe(false);
  });

  it('is true once the slot is no longer active, though its process lives', () => {
    const t = table(2);
    const token = forgeSlot(t, 1);
    for (const state of [SlotState.free, SlotState.claiming]) {
      t.setWord(1, SlotWord.state, state);
      expect(t.tokenHolderDead(token)).toBe(true);
    }
  });

  it('is true when the holder process died', async () => {
    const t = table(2);
    expect(t.tokenHolderDead(forgeSlot(t, 1, { pid: await deadPid() }))).toBe(true);
  });
});

describe('ParticipantTable.isDead', () => {
  it('believes the kernel over a fresh heartbeat in this PID namespace', async () => {
    const t = table(2);
    forgeSlot(t, 0, { pid: await deadPid() });
    forgeSlot(t, 1, { heartbeatAgeMs: 10 * T });
    expect(t.isDead(0)).toBe(true);
    expect(t.isDead(1)).toBe(false);
  });

  it('judges a participant in another PID namespace by whether its heartbeat is older than the timeout', () => {
    mockClock();
    const t = table(2);
    forgeSlot(t, 0, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: T });
    forgeSlot(t, 1, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: T + 1 });
    expect(t.isDead(0)).toBe(false);
    expect(t.isDead(1)).toBe(true);
  });
});

describe('ParticipantTable.reclaimIfDead and reclaimDead', () => {
  it('frees the slot of a dead participant and says so', async () => {
    const t = table(2);
    forgeSlot(t, 1, { pid: await deadPid() });
    expect(t.reclaimIfDead(1)).toBe(true);
    expect(t.word(1, SlotWord.state)).toBe(SlotState.free);
    expect(t.reclaimIfDead(1)).toBe(false);
  });

  it('frees a slot left in claiming by a process that died mid-claim', async () => {
    const t = table(2);
    forgeSlot(t, 1, { pid: await deadPid(), state: SlotState.claiming });
    expect(t.reclaimIfDead(1)).toBe(true);
    expect(t.word(1, SlotWord.state)).toBe(SlotState.free);
  });

  it('leaves live participants and free slots alone', async () => {
    const t = table(3);
    forgeSlot(t, 0);
    forgeSlot(t, 1, { pidNs: OTHER_PID_NAMESPACE });
    forgeSlot(t, 2, { pid: await deadPid(), state: SlotState.free });
    const before = words(t);
    for (let s = 0; s < 3; s++) expect(t.reclaimIfDead(s)).toBe(false);
    expect(words(t)).toEqual(before);
  });

  it('says false when another process freed the slot while this one was judging it', async () => {
    const t = table(2);
    const dead = await deadPid();
    forgeSlot(t, 1, { pid: dead });
    const kill = process.kill.bind(process);
    vi.spyOn(process, 'kill').mockImplementation((pid, signal) => {
      if (pid === dead) t.setWord(1, SlotWord.state, SlotState.free); // the other reclaimer wins
      return kill(pid, signal);
    });
    expect(t.reclaimIfDead(1)).toBe(false);
    expect(t.word(1, SlotWord.state)).toBe(SlotState.free);
  });

  it('leaves a live newcomer alone when, while it judged the old participant, another process reclaimed the slot and the newcomer claimed it', async () => {
    const t = table(2);
    const dead = await deadPid();
    forgeSlot(t, 0);
    forgeSlot(t, 1, { pid: dead, gen: 5 });
    const kill = process.kill.bind(process);
    vi.spyOn(process, 'kill').mockImplementation((pid, signal) => {
      if (pid === dead) {
        t.setWord(1, SlotWord.state, SlotState.free); // the other reclaimer
        expect(t.claim('subscriber', 0)).toBe(1); // the newcomer: generation 6, this process, alive
      }
      return kill(pid, signal);
    });
    expect(t.reclaimIfDead(1)).toBe(false);
    expect(t.word(1, SlotWord.state)).toBe(SlotState.active);
    expect(t.word(1, SlotWord.gen)).toBe(6);
    expect(t.word(1, SlotWord.pid)).toBe(process.pid);
  });

  it('tells a reused pid apart by its start time: a slot naming a live pid with another start time is dead and reclaimed', () => {
    const t = table(2);
    forgeSlot(t, 0);
    t.setWord(0, SlotWord.startTime, (OWN_START_TIME + 1) >>> 0);
    forgeSlot(t, 1);
    t.setWord(1, SlotWord.startTime, OWN_START_TIME);
    expect(t.isDead(0)).toBe(true);
    expect(t.isDead(1)).toBe(false);
    // Slots written before start times were recorded (0) fall back to the pid alone.
    t.setWord(0, SlotWord.startTime, 0);
    expect(t.isDead(0)).toBe(false);
    t.setWord(0, SlotWord.startTime, (OWN_START_TIME + 1) >>> 0);
    expect(t.reclaimIfDead(0)).toBe(true);
    expect(t.reclaimIfDead(1)).toBe(false);
  });

  it('reclaimDead frees every dead slot and counts them', async () => {
    const t = table(5);
    const dead = await deadPid();
    forgeSlot(t, 0, { pid: dead });
    forgeSlot(t, 1);
    forgeSlot(t, 2, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T });
    forgeSlot(t, 4, { pid: dead });
    expect(t.reclaimDead()).toBe(3);
    expect([0, 1, 2, 3, 4].map((s) => t.word(s, SlotWord.state))).toEqual([SlotState.free, SlotState.active, SlotState.free, SlotState.free, SlotState.free]);
    expect(t.reclaimDead()).toBe(0);
  });
});

describe('ParticipantTable.forEachActive', () => {
  it('visits exactly the active slots of the role on the ring', () => {
    const t = table(6);
    forgeSlot(t, 0, { role: Role.subscriber, ring: 1 });
    forgeSlot(t, 1, { role: Role.subscriber, ring: 0 });
    forgeSlot(t, 2, { role: Role.publisher, ring: 1 });
    forgeSlot(t, 3, { role: Role.subscriber, ring: 1, state: SlotState.claiming });
    forgeSlot(t, 4, { role: Role.subscriber, ring: 1 });
    forgeSlot(t, 5, { role: Role.subscriber, ring: 1, state: SlotState.free });
    const seen: number[] = [];
    t.forEachActive('subscriber', 1, (slot) => seen.push(slot));
    expect(seen).toEqual([0, 4]);
    const onRing0: number[] = [];
    t.forEachActive('subscriber', 0, (slot) => onRing0.push(slot));
    expect(onRing0).toEqual([1]);
  });
});

describe('ParticipantTable.snapshot', () => {
  it('lists active participants with a known role: identity, liveness, counters and heartbeat age', async () => {
    const clock = mockClock();
    const t = table(5);
    const dead = await deadPid();
    forgeSlot(t, 0, { role: Role.subscriber, ring: 0, heartbeatAgeMs: 1500 });
    t.setWord(0, SlotWord.cursor, 11);
    t.setWord(0, SlotWord.expectedSeq, 12);
    t.setWord(0, SlotWord.lost, 13);
    t.setWord(0, SlotWord.delivered, 14);
    forgeSlot(t, 1, { role: Role.publisher, state: SlotState.free });
    forgeSlot(t, 2, { role: 9 });
    forgeSlot(t, 3, { role: Role.streamEnd, ring: 1, pid: dead });
    clock.set(Date.now() + 500);
    expect(t.snapshot()).toEqual([
      { index: 0, role: 'subscriber', pid: process.pid, alive: true, ring: 0, cursor: 11, expectedSeq: 12, lost: 13, delivered: 14, heartbeatAgeMs: 2000 },
      { index: 3, role: 'streamEnd', pid: dead, alive: false, ring: 1, cursor: 0, expectedSeq: 0, lost: 0, delivered: 0, heartbeatAgeMs: 500 },
    ]);
  });
});
