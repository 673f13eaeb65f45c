/** Waiting for a condition with a deadline, instead of sleeping a fixed time. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves with the first value of `check()` that is neither undefined nor false, polling
 * every `intervalMs`; a check that throws counts as not yet. Rejects after `ms` with an
 * error naming `what` and the last error. The deadline is generous: it bounds a hang, not
 * a speed.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = performance.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String((last as Error).message ?? last).slice(0, 300)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** eventually() for a synchronous condition, polled every 10 ms. */
export async function until(condition: () => boolean, what: string, ms = 20_000, intervalMs = 10): Promise<void> {
  await eventually(what, () => condition() || undefined, ms, intervalMs);
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lets `ms` pass for a check that something does NOT happen (still waiting, not yet
 * subscribed, no leader change): the one kind of wait that has no condition to await.
 */
export function quietPeriod(ms: number): Promise<void> {
  return sleep(ms);
}
