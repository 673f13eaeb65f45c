/**
 * Who may mount a channel's directory (the CSI plugin asks before each publish): a pod of
 * the channel's own namespace (the plugin guarantees that part) whose labels the channel's
 * selector matches, for a channel that keeps its memory in a Volume. Read from the API
 * server at mount time, so a label added after admission does not open a channel either way.
 */
import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { AuthorizeChannelMount } from '../csi/index.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { isNotFound } from '../k8s/api-errors.js';
import { compileSelector } from '../k8s/selector.js';
import { CHANNEL, GROUP, VERSION, type SharedMemoryChannel } from '../k8s/types.js';

const refuse = (message: string, hint: string) => new ShimmyError(ErrorCode.CSI_REFUSED, message, hint);

export function channelMountAuthorizer(core: CoreV1Api, custom: CustomObjectsApi): AuthorizeChannelMount {
  return async ({ namespace, channel, pod }) => {
    let found: SharedMemoryChannel;
    try {
      found = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: CHANNEL.plural,
        name: channel,
      })) as SharedMemoryChannel;
    } catch (err) {
      if (isNotFound(err)) throw refuse(`There is no SharedMemoryChannel ${namespace}/${channel}`, 'Create the channel, or remove the volume from the pod');
      throw err;
    }
    if (found.spec?.memory !== 'Volume') {
      throw refuse(
        `Channel ${namespace}/${channel} keeps its memory in System V (memory: HostIPC), not in a volume`,
        'Let the Shimmy webhook set up the pod; it adds hostIPC for such channels',
      );
    }
    const { metadata } = await core.readNamespacedPod({ namespace, name: pod });
    if (!compileSelector(found.spec.selector)(metadata?.labels ?? {})) {
      throw refuse(`Pod ${namespace}/${pod} is not selected by channel ${channel}`, "Give the pod the labels of the channel's selector");
    }
  };
}
