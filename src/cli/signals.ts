import type { Logger } from 'pino';

/** Resolves once SIGTERM or SIGINT has come and `stop` has finished (a failed stop is logged). */
export function untilSignal(stop: () => Promise<void>, log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'signal received');
      stop().then(resolve, (err) => {
        log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

const TURN_EVERY_MS = 10;

/**
 * For loops that only await promises which are already settled (a flood of messages, a ring
 * that never fills): those run as microtasks, so signals and timers never get a turn.
 * `due()` is true every 10 ms; then `await turn()` lets the event loop run once.
 */
export class EventLoopTurns {
  private next = performance.now() + TURN_EVERY_MS;

  due(): boolean {
    return performance.now() >= this.next;
  }

  async turn(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.next = performance.now() + TURN_EVERY_MS;
  }
}
