/** Waiting for a condition with a deadline, instead of sleeping a fixed time. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `condition()` is true, polling every `intervalMs`; rejects after `ms`
 * with an error naming `what`. The deadline is generous: it bounds a hang, not a speed.
 */
export async function until(condition: () => boolean, what: string, ms = 20_000, intervalMs = 10): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
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
