import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecoverableLock } from './lock.js';
import { HEARTBEAT_TIMEOUT_MS } from './liveness.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { futexWaitSync } from '../shm/native.js';
import { killStarted } from '../../test/helpers/proc.js';
import { deadPid } from '../../test/helpers/pids.js';
import { OTHER_PID_NAMESPACE, forgeSlot, lockSegment, type LockSegment } from '../../test/helpers/slots.js';

// RecoverableLock in process: the lock word and the participant table live in a real segment,
// other holders are forged slots (live: this process, or a fresh heartbeat in another PID
// namespace; dead: a reaped child's pid, or a stale heartbeat), and what another process
// would do while acquire() waits happens in giveUpIf, which acquire() calls between sleeps.

vi.mock('../shm/native.js', async (importOriginal) => {
  const native = await importOriginal<typeof import('../shm/native.js')>();
  return { ...native, futexWaitSync: vi.fn(native.futexWaitSync) };
});

const T = HEARTBEAT_TIMEOUT_MS;
let area: LockSegment;
beforeEach(() => {
  vi.mocked(futexWaitSync).mockClear();
  area = lockSegment(4);
});
afterEach(() => {
  vi.restoreAllMocks();
  area.remove();
  killStarted();
});

const MINE = 3;
const lockWord = () => Atomics.load(area.u32, area.index);

/** This process's lock in slot MINE; giveUpIf sees the 1-based number of each check. */
function myLock(giveUpIf?: (check: number) => ShimmyError | null) {
  const token = forgeSlot(area.table, MINE);
  let checks = 0;
  const lock = giveUpIf
    ? new RecoverableLock(area.u32, area.index, area.address, area.table, token, () => giveUpIf(++checks))
    : new RecoverableLock(area.u32, area.index, area.address, area.table, token);
  return { lock, token, checks: () => checks };
}

/** A giveUpIf for waits that must end on their own: after `max` checks it stops the wait, so a broken lock fails the test instead of hanging it. */
function bailAfter(max: number, each: (check: number) => void = () => {}) {
  return (check: number) => {
    each(check);
    return check >= max ? new ShimmyError(ErrorCode.TIMEOUT, `still waiting after ${max} checks`, '') : null;
  };
}

/** Date.now() under the test's control, starting at a realistic epoch time. */
function mockClock() {
  let now = 1_700_000_000_000;
  vi.spyOn(Date, 'now').mockImplementation(() => now);
  return {
    advance(ms: number) {
      now += ms;
    },
  };
}

function holdWith(token: number) {
  Atomics.store(area.u32, area.index, token);
}

describe('RecoverableLock basics', () => {
  it('has no reason to give up unless told, and reports its owner token', () => {
    const { lock, token } = myLock();
    expect(lock.conflict()).toBeNull();
    expect(lock.ownerToken).toBe(token);
    const reason = new ShimmyError(ErrorCode.PUBLISHER_CONFLICT, 'exclusive', 'hint');
    const told = new RecoverableLock(area.u32, area.index, area.address, area.table, token, () => reason);
    expect(told.conflict()).toBe(reason);
  });

  it('release() frees the word for the next taker', () => {
    const { lock } = myLock();
    expect(lock.acquire()).toBe(false);
    lock.release();
    expect(lockWord()).toBe(0);
    expect(lock.tryAcquire()).toBe(false);
  });
});

describe('RecoverableLock.acquire', () => {
  it('takes a free lock at once, without a takeover and without checking anything', () => {
    const { lock, token, checks } = myLock(bailAfter(3));
    expect(lock.acquire()).toBe(false);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(0);
    expect(checks()).toBe(0);
  });

  it('refuses to take a lock this participant already holds (INVALID_ARGUMENT), leaving it held', () => {
    const { lock, token } = myLock(bailAfter(2000));
    lock.acquire();
    let err: unknown;
    try {
      lock.acquire();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShimmyError);
    expect((err as ShimmyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((err as ShimmyError).message).toContain('This participant already holds the channel lock');
    expect((err as ShimmyError).hint).toBe('Commit or abort the pending claim before publishing again');
    expect(lockWord()).toBe(token);
  });

  it('waits while a live participant of this PID namespace holds it, and takes it once released', () => {
    const holder = forgeSlot(area.table, 1); // this very process: alive
    holdWith(holder);
    const { lock, token, checks } = myLock(bailAfter(2000, (check) => check === 3 && Atomics.store(area.u32, area.index, 0)));
    expect(lock.acquire()).toBe(false);
    expect(checks()).toBe(3);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(0);
  });

  it('takes the lock over at its first check when the holder process is dead', async () => {
    const holder = forgeSlot(area.table, 1, { pid: await deadPid() });
    holdWith(holder);
    const { lock, token, checks } = myLock(bailAfter(2000));
    expect(lock.acquire()).toBe(true);
    expect(checks()).toBe(1);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(1);
  });

  it('takes over from a silent holder in another PID namespace only after watching it hold the lock for a whole heartbeat timeout', () => {
    const clock = mockClock();
    const holder = forgeSlot(area.table, 1, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T });
    holdWith(holder);
    // Each check happens one second after the previous one; the first starts the watch.
    const { lock, token, checks } = myLock(bailAfter(50, () => clock.advance(1000)));
    expect(lock.acquire()).toBe(true);
    // Held for 0, 1000, ..., 5000 ms: not yet longer than 5000; at the 7th check 6000 ms is.
    expect(checks()).toBe(T / 1000 + 2);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(1);
  });

  it('keeps waiting for a silent holder in another PID namespace as long as it has not held the lock for the timeout', () => {
    const clock = mockClock();
    holdWith(forgeSlot(area.table, 1, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T }));
    const { lock } = myLock(bailAfter(T / 100, () => clock.advance(100)));
    expect(() => lock.acquire()).toThrowError(/still waiting after 50 checks/);
    expect(lockWord()).not.toBe(lock.ownerToken);
  });

  it('stops waiting with the reason giveUpIf gives, leaving the holder in place', () => {
    const holder = forgeSlot(area.table, 1);
    holdWith(holder);
    const reason = new ShimmyError(ErrorCode.PUBLISHER_CONFLICT, 'an exclusive publisher holds the channel', 'publish from it');
    // Were the reason ignored, the holder would let go at the second check.
    const { lock } = myLock((check) => {
      if (check >= 2) Atomics.store(area.u32, area.index, 0);
      return reason;
    });
    expect(() => lock.acquire()).toThrow(reason);
    expect(lockWord()).toBe(holder);
    expect(lock.recoveries).toBe(0);
  });

  it('sleeps on the lock word (futex, 50 µs) after each check instead of spinning', () => {
    const holder = forgeSlot(area.table, 1);
    holdWith(holder);
    const { lock, checks } = myLock(bailAfter(2000, (check) => check === 4 && Atomics.store(area.u32, area.index, 0)));
    expect(lock.acquire()).toBe(false);
    expect(checks()).toBe(4);
    expect(vi.mocked(futexWaitSync).mock.calls).toEqual(Array.from({ length: 4 }, () => [area.address, holder, 50_000]));
  });
});

describe('RecoverableLock.tryAcquire', () => {
  it('takes over a lock whose token names no slot of the table (forged or corrupt), instead of failing with a RangeError', () => {
    const { lock, token } = myLock();
    for (const forged of [0x109, 0x100, 0xffffffff]) {
      Atomics.store(area.u32, area.index, forged);
      expect(lock.tryAcquire(), forged.toString(16)).toBe(true);
      expect(lockWord()).toBe(token);
      lock.release();
    }
  });

  it('takes a free lock and reports no takeover', () => {
    const { lock, token } = myLock();
    expect(lock.tryAcquire()).toBe(false);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(0);
  });

  it('refuses when this participant already holds the lock (INVALID_ARGUMENT)', () => {
    const { lock, token } = myLock();
    expect(lock.tryAcquire()).toBe(false);
    expect(() => lock.tryAcquire()).toThrowError(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, hint: expect.stringMatching(/^Commit or abort/) }),
    );
    expect(lockWord()).toBe(token);
  });

  it('answers null, again and again, while a live participant of this PID namespace holds it', () => {
    const clock = mockClock();
    const holder = forgeSlot(area.table, 1);
    holdWith(holder);
    const { lock } = myLock();
    for (let i = 0; i < 3; i++) {
      expect(lock.tryAcquire()).toBeNull();
      clock.advance(2 * T);
    }
    expect(lockWord()).toBe(holder);
    expect(lock.recoveries).toBe(0);
  });

  it('takes over at once from a dead holder of this PID namespace, whatever its heartbeat and timeout', async () => {
    // The holder in slot 0 beat just now; slot 1 (same generation) lives in another namespace.
    const holder = forgeSlot(area.table, 0, { pid: await deadPid() });
    forgeSlot(area.table, 1, { pidNs: OTHER_PID_NAMESPACE });
    holdWith(holder);
    const { lock, token } = myLock();
    expect(lock.tryAcquire()).toBe(true);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(1);
  });

  it('takes over from a silent holder in another PID namespace once it has held the lock for longer than the heartbeat timeout', () => {
    const clock = mockClock();
    const holder = forgeSlot(area.table, 1, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T });
    holdWith(holder);
    const { lock, token } = myLock();
    expect(lock.tryAcquire()).toBeNull();
    clock.advance(T);
    expect(lock.tryAcquire()).toBeNull();
    expect(lockWord()).toBe(holder);
    clock.advance(1);
    expect(lock.tryAcquire()).toBe(true);
    expect(lockWord()).toBe(token);
    expect(lock.recoveries).toBe(1);
  });

  it('starts the watch again when another silent holder takes the lock', () => {
    const clock = mockClock();
    const first = forgeSlot(area.table, 1, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T });
    const second = forgeSlot(area.table, 2, { pidNs: OTHER_PID_NAMESPACE, heartbeatAgeMs: 2 * T });
    holdWith(first);
    const { lock } = myLock();
    expect(lock.tryAcquire()).toBeNull();
    clock.advance(T / 2);
    holdWith(second);
    expect(lock.tryAcquire()).toBeNull();
    clock.advance(T / 2 + 1);
    expect(lock.tryAcquire()).toBeNull();
    clock.advance(T / 2);
    expect(lock.tryAcquire()).toBe(true);
  });

  it('waits the timeout for a holder whose pid the kernel cannot judge (0), even in this PID namespace', () => {
    const clock = mockClock();
    holdWith(forgeSlot(area.table, 1, { pid: 0, heartbeatAgeMs: 2 * T }));
    const { lock } = myLock();
    expect(lock.tryAcquire()).toBeNull();
    clock.advance(T + 1);
    expect(lock.tryAcquire()).toBe(true);
  });

  it('takes over at once when the holder has left and its slot belongs to a newer, live participant', () => {
    const stale = forgeSlot(area.table, 1, { gen: 7, pidNs: OTHER_PID_NAMESPACE });
    forgeSlot(area.table, 1, { gen: 8, pidNs: OTHER_PID_NAMESPACE });
    holdWith(stale);
    const { lock, token } = myLock();
    expect(lock.tryAcquire()).toBe(true);
    expect(lockWord()).toBe(token);
  });

  it('counts every takeover', async () => {
    const dead = await deadPid();
    const { lock } = myLock();
    for (let i = 1; i <= 2; i++) {
      holdWith(forgeSlot(area.table, 1, { gen: i, pid: dead }));
      expect(lock.tryAcquire()).toBe(true);
      expect(lock.recoveries).toBe(i);
    }
  });
});
