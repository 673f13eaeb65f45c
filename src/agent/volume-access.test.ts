import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import type { SharedMemoryChannel } from '../k8s/types.js';
import { channelMountAuthorizer } from './volume-access.js';

// The API clients answer from fixed objects: the rule is what is tested here; the plugin's
// real mounts are in test/integration/csi-plugin.test.ts.
const channel = (memory?: 'Volume' | 'HostIPC'): SharedMemoryChannel => ({
  metadata: { namespace: 'a', name: 'frames' },
  spec: { selector: { matchLabels: { app: 'cam' } }, ...(memory ? { memory } : {}) },
});
function authorizer(found: SharedMemoryChannel | undefined, labels: Record<string, string>) {
  const custom = {
    getNamespacedCustomObject: async () => {
      if (!found) throw Object.assign(new Error('not found'), { code: 404 });
      return found;
    },
  } as unknown as CustomObjectsApi;
  const core = { readNamespacedPod: async () => ({ metadata: { labels } }) } as unknown as CoreV1Api;
  return channelMountAuthorizer(core, custom);
}
const request = { namespace: 'a', channel: 'frames', pod: 'p', podUid: 'u', serviceAccount: 'default' };

describe('who may mount a channel', () => {
  it('a pod the Volume channel selects', async () => {
    await expect(authorizer(channel('Volume'), { app: 'cam' })(request)).resolves.toBeUndefined();
  });

  it('not a pod the selector does not match', async () => {
    await expect(authorizer(channel('Volume'), { app: 'other' })(request)).rejects.toMatchObject({
      code: ErrorCode.CSI_REFUSED,
      message: expect.stringMatching(/not selected/),
    });
  });

  it('not for a HostIPC channel, nor for a channel that does not exist', async () => {
    await expect(authorizer(channel('HostIPC'), { app: 'cam' })(request)).rejects.toMatchObject({
      code: ErrorCode.CSI_REFUSED,
      message: expect.stringMatching(/HostIPC/),
    });
    await expect(authorizer(channel(), { app: 'cam' })(request)).rejects.toMatchObject({ code: ErrorCode.CSI_REFUSED });
    await expect(authorizer(undefined, { app: 'cam' })(request)).rejects.toMatchObject({
      code: ErrorCode.CSI_REFUSED,
      message: expect.stringMatching(/no SharedMemoryChannel/),
    });
  });
});
