/**
 * A client-node informer that restarts itself after an error (client-node stops on any
 * error but 410 Gone) and tells when its first list has arrived.
 */
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorText } from './api-errors.js';

export interface WatchedResource<T extends KubernetesObject> {
  readonly name: string;
  readonly cache: ObjectCache<T>;
  readonly informer: Informer<T>;
  /** Resolves once the first list has filled the cache. */
  readonly listed: Promise<void>;
  isListed(): boolean;
  stop(): Promise<void>;
}

export interface WatchOptions<T extends KubernetesObject> {
  name: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  log: Logger;
}

const INITIAL_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

export function watchResource<T extends KubernetesObject>(kc: KubeConfig, opts: WatchOptions<T>): WatchedResource<T> {
  let listedOnce = false;
  let resolveListed!: () => void;
  const listed = new Promise<void>((resolve) => (resolveListed = resolve));
  let backoff = INITIAL_BACKOFF_MS;
  const list = async () => {
    const result = await opts.list();
    // Reset on a list that worked ("connect" fires before the list is even tried).
    backoff = INITIAL_BACKOFF_MS;
    if (!listedOnce) {
      listedOnce = true;
      queueMicrotask(resolveListed);
    }
    return result;
  };
  const informer = makeInformer<T>(kc, opts.path, list, opts.labelSelector);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    opts.log.warn({ resource: opts.name, err: errorText(err), retryMs: backoff }, 'watch failed; restarting');
    timer = setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  });
  informer.start().catch(() => undefined);
  return {
    name: opts.name,
    cache: informer,
    informer,
    listed,
    isListed: () => listedOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
