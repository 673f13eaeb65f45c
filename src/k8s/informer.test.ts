import { describe, expect, it } from 'vitest';
import { quietPeriod, until } from '../../test/helpers/wait.js';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { watchResource } from './informer.js';

describe('watchResource', () => {
  it('retries a failing list with growing backoff, and stops retrying when stopped', async () => {
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'down', server: 'http://127.0.0.1:1', skipTLSVerify: true }, { name: 'nobody' });
    const delays: number[] = [];
    let lists = 0;
    const log = { warn: (fields: { retryMs: number }) => delays.push(fields.retryMs) } as unknown as Logger;
    const watch = watchResource<V1Pod>(kc, {
      name: 'pods',
      path: '/api/v1/pods',
      list: async () => {
        lists++;
        throw new Error('API server down');
      },
      log,
    });
    await until(() => delays.length >= 4, 'four list retries', 20_000, 50);
    await watch.stop();
    expect(delays.slice(0, 4)).toEqual([250, 500, 1000, 2000]);
    expect(watch.isListed()).toBe(false);
    const after = lists;
    await quietPeriod(2500);
    expect(lists).toBe(after);
  });
});
