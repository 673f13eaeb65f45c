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
