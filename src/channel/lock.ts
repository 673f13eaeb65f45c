/**
 * A spin lock in shared memory whose word holds the owner's participant token, so a holder
 * that died (kill -9 at any instruction) is detected and the lock taken over.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { futexWaitSync } from '../shm/native.js';
import type { Address } from '../shm/native.js';
import { OWN_PID_NAMESPACE, processLiveness } from './liveness.js';
import { SlotWord, type ParticipantTable } from './participants.js';

const SPINS_BEFORE_CHECK = 512;
const SLEEP_NS = 50_000;

export class RecoverableLock {
  /** How many times this process took the lock over from a dead holder. */
  recoveries = 0;
  /** tryAcquire's view of the holder it last found, and since when. */
  private triedHolder = 0;
  private triedSince = 0;

  constructor(
    private readonly u32: Uint32Array,
    private readonly index: number,
    private readonly word: Address,
    private readonly table: ParticipantTable,
    private readonly token: number,
    /** Checked while waiting: a reason to stop waiting (thrown), or null. */
    private readonly giveUpIf: () => ShimmyError | null = () => null,
    /** Runs right after the lock is taken over from dead holder `token`, before the caller goes on (take-note.ts). */
    private readonly onTakeover: (token: number) => void = () => {},
  ) {}

  get ownerToken(): number {
    return this.token;
  }

  /** Why this participant must not wait for the lock at all (see giveUpIf), or null. */
  conflict(): ShimmyError | null {
    return this.giveUpIf();
  }

  /** Takes the lock. Returns true when it was taken over from a dead holder. */
  acquire(): boolean {
    if (Atomics.compareExchange(this.u32, this.index, 0, this.token) === 0) return false;
    return this.acquireContended();
  }

  /**
   * Takes the lock only if that needs no waiting: false when it was free, true when it was
   * taken over from a dead holder, null while a live participant holds it. Repeated calls
   * count how long one holder has kept it, as acquire() does while it waits.
   */
  tryAcquire(): boolean | null {
    const holder = Atomics.load(this.u32, this.index);
    if (holder === 0) return Atomics.compareExchange(this.u32, this.index, 0, this.token) === 0 ? false : null;
    if (holder === this.token) throw this.heldAlready();
    if (holder !== this.triedHolder) {
      this.triedHolder = holder;
      this.triedSince = Date.now();
    }
    if (this.holderDead(holder, Date.now() - this.triedSince) && Atomics.compareExchange(this.u32, this.index, holder, this.token) === holder) {
      this.tookOver(holder);
      return true;
    }
    return null;
  }

  private heldAlready(): ShimmyError {
    return new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      'This participant already holds the channel lock',
      'Commit or abort the pending claim before publishing again',
    );
  }

  release(): void {
    Atomics.store(this.u32, this.index, 0);
  }

  private acquireContended(): boolean {
    let spins = 0;
    let watched = 0;
    let watchedSince = 0;
    for (;;) {
      const holder = Atomics.load(this.u32, this.index);
      if (holder === 0) {
        if (Atomics.compareExchange(this.u32, this.index, 0, this.token) === 0) return false;
        continue;
      }
      if (holder === this.token) throw this.heldAlready();
      // Stryker disable next-line EqualityOperator: spinning 511, 512 or 513 times (or not at all) before each check only changes how long a waiter busy-waits before it sleeps; every check and sleep still happens
      if (++spins < SPINS_BEFORE_CHECK) continue;
      spins = 0;
      const reason = this.giveUpIf();
      if (reason) throw reason;
      if (holder !== watched) {
        watched = holder;
        watchedSince = Date.now();
      }
      if (this.holderDead(holder, Date.now() - watchedSince) && Atomics.compareExchange(this.u32, this.index, holder, this.token) === holder) {
        this.tookOver(holder);
        return true;
      }
      futexWaitSync(this.word, holder, SLEEP_NS);
    }
  }

  private tookOver(holder: number): void {
    this.recoveries++;
    try {
      this.onTakeover(holder);
    } catch (err) {
      this.release();
      throw err;
    }
  }

  private holderDead(token: number, heldForMs: number): boolean {
    if (this.table.tokenHolderDead(token)) {
      // Across PID namespaces only heartbeats speak; a lock is held for microseconds, so
      // also require that this holder kept it for a whole heartbeat timeout.
      const slot = this.table.slotOf(token);
      // A token naming no slot was never written by a Shimmy participant: take the lock over.
      if (slot === null) return true;
      const ns = this.table.word(slot, SlotWord.pidNs);
      const kernelKnows =
        ns === OWN_PID_NAMESPACE && processLiveness(this.table.word(slot, SlotWord.pid), ns, this.table.word(slot, SlotWord.startTime)) !== 'unknown';
      return kernelKnows || heldForMs > this.table.heartbeatTimeoutMs || token >>> 8 !== (this.table.word(slot, SlotWord.gen) & 0xffffff);
    }
    return false;
  }
}
