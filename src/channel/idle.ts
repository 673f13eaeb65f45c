/**
 * How a reader or a blocked writer waits. Named strategies, chosen per endpoint:
 *  - 'spin-then-sleep' (default): poll for `spinMicros`, then sleep on the futex;
 *  - 'busy-spin': never sleep (lowest latency, burns a core);
 *  - 'sleep': go straight to the futex.
 * Sleeps are bounded (`SLEEP_SLICE_MS`) so heartbeats, deadlines and aborts are honoured.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ErrorCode, ShimmyError } from '../errors.js';
import type { Notifier } from './notifier.js';

export const IdleStrategy = { spinThenSleep: 'spin-then-sleep', busySpin: 'busy-spin', sleep: 'sleep' } as const;
export type IdleStrategy = (typeof IdleStrategy)[keyof typeof IdleStrategy];

export interface IdleOptions {
  idle?: IdleStrategy;
  /** Spin phase of 'spin-then-sleep', in microseconds. Default 50. */
  spinMicros?: number;
}

const SLEEP_SLICE_MS = 100;
const BUSY_SLICE_MS = 2;

export function checkIdle(idle: string | undefined): IdleStrategy {
  const value = idle ?? IdleStrategy.spinThenSleep;
  if (!(Object.values(IdleStrategy) as string[]).includes(value)) {
    throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `Unknown idle strategy ${JSON.stringify(idle)}`, `Use one of ${Object.values(IdleStrategy).join(', ')}`);
  }
  return value as IdleStrategy;
}

let sink = 0;
/** Local work between two looks at shared memory (the `pause` of spin loops). */
function pause(iterations: number): void {
  let x = sink;
  for (let i = 0; i < iterations; i++) x = (x * 31 + i) | 0;
  sink = x;
}

/**
 * Polls ready() for `micros`, pausing `pauseIterations` between looks. Re-reading a record
 * the writer is still filling steals its cache line; pausing lets records accumulate so they
 * are read in batches. Readers adapt the pause to their traffic (see AdaptivePause).
 */
function spin(ready: () => boolean, micros: number, pauseIterations: number): boolean {
  if (micros <= 0) return ready();
  const until = performance.now() + micros / 1000;
  for (;;) {
    for (let i = 0; i < 8; i++) {
      if (ready()) return true;
      pause(pauseIterations);
    }
    if (performance.now() >= until) return ready();
  }
}

const MAX_PAUSE = 4096;

/**
 * The pause a reader's spin uses, from the size of its last batches: a poll that finds
 * several messages means a stream (pause longer, read in batches); one message means
 * request/response (pause less, answer sooner). Converges to 0 for ping-pong traffic and to
 * MAX_PAUSE (a few microseconds) for a sustained stream.
 */
export class AdaptivePause {
  iterations = 0;

  observe(batch: number): void {
    if (batch >= 2) this.iterations = Math.min(MAX_PAUSE, this.iterations * 2 + 32);
    else if (batch === 1) this.iterations >>>= 1;
  }

  /** Before a wait: give a stream time to accumulate a batch (a no-op for request/response). */
  beforeWait(): void {
    if (this.iterations !== 0) pause(this.iterations);
  }
}

function timeout(what: string, ms: number): ShimmyError {
  return new ShimmyError(
    ErrorCode.TIMEOUT,
    `Timed out after ${ms} ms waiting for ${what}`,
    'Check that the peer process is running and attached to the same channel',
  );
}

function aborted(signal: AbortSignal): ShimmyError {
  return new ShimmyError(ErrorCode.ABORTED, 'The operation was aborted', 'The AbortSignal passed to it fired', { cause: signal.reason });
}

/** True once `wait` is done, false when its AbortSignal ended it; other errors propagate. */
export async function unlessAborted(wait: Promise<unknown>): Promise<boolean> {
  try {
    await wait;
    return true;
  } catch (err) {
    if (err instanceof ShimmyError && err.code === ErrorCode.ABORTED) return false;
    throw err;
  }
}

export interface WaitOptions extends IdleOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called between sleep slices (heartbeats, reclaiming dead peers). */
  onSlice?: () => void;
  /** Pause between looks while spinning (see AdaptivePause); default 0. */
  pauseIterations?: number;
  what: string;
}

/** Blocks the calling thread until ready(); throws TIMEOUT. */
export function waitSync(notifier: Notifier, ready: () => boolean, opts: WaitOptions): void {
  const strategy = opts.idle ?? IdleStrategy.spinThenSleep;
  const deadline = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  const p = opts.pauseIterations ?? 0;
  if (strategy !== IdleStrategy.sleep && spin(ready, strategy === IdleStrategy.busySpin ? BUSY_SLICE_MS * 1000 : (opts.spinMicros ?? 50), p)) return;
  for (;;) {
    opts.onSlice?.();
    const left = deadline - performance.now();
    if (left <= 0) throw timeout(opts.what, opts.timeoutMs!);
    const slice = Math.min(left, strategy === IdleStrategy.busySpin ? BUSY_SLICE_MS : SLEEP_SLICE_MS);
    if (strategy === IdleStrategy.busySpin ? spin(ready, slice * 1000, p) : notifier.waitSync(ready, slice)) return;
  }
}

/** Waits without blocking the event loop until ready(); throws TIMEOUT or ABORTED. */
export async function waitAsync(notifier: Notifier, ready: () => boolean, opts: WaitOptions): Promise<void> {
  const strategy = opts.idle ?? IdleStrategy.spinThenSleep;
  const deadline = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  const p = opts.pauseIterations ?? 0;
  if (strategy !== IdleStrategy.sleep && spin(ready, strategy === IdleStrategy.busySpin ? 200 : (opts.spinMicros ?? 50), p)) return;
  for (;;) {
    if (opts.signal?.aborted) throw aborted(opts.signal);
    opts.onSlice?.();
    const left = deadline - performance.now();
    if (left <= 0) throw timeout(opts.what, opts.timeoutMs!);
    if (strategy === IdleStrategy.busySpin) {
      if (spin(ready, Math.min(left, BUSY_SLICE_MS) * 1000, p)) return;
      await yieldToLoop();
    } else if (await notifier.waitAsync(ready, Math.min(left, SLEEP_SLICE_MS))) {
      return;
    }
  }
}
