/**
 * NodePublishVolume and NodeUnpublishVolume requests checked before anything touches the
 * node: a pure function from the request to what to mount, or a CsiRefusal.
 *
 * The namespace always comes from the kubelet's `csi.storage.k8s.io/pod.namespace` (the
 * CSIDriver asks for podInfoOnMount), never from an attribute the pod's author wrote, so a
 * pod can only ever name channels of its own namespace.
 */
import { status } from '@grpc/grpc-js';
import { isAbsolute } from 'node:path';
import { validateName } from '../channel/names.js';
import { CSI_CHANNEL_ATTRIBUTE } from '../k8s/types.js';
import { CsiRefusal } from './csi-error.js';

/** Keys of a NodePublishVolume's volume_context. */
export const VolumeContextKey = {
  /** The channel's name, written by the webhook into the pod's inline CSI volume. */
  CHANNEL: CSI_CHANNEL_ATTRIBUTE,
  /** Refused unless it equals POD_NAMESPACE: a pod cannot name another namespace. */
  NAMESPACE: 'namespace',
  EPHEMERAL: 'csi.storage.k8s.io/ephemeral',
  POD_NAMESPACE: 'csi.storage.k8s.io/pod.namespace',
  POD_NAME: 'csi.storage.k8s.io/pod.name',
  POD_UID: 'csi.storage.k8s.io/pod.uid',
  SERVICE_ACCOUNT: 'csi.storage.k8s.io/serviceAccount.name',
} as const;
export type VolumeContextKey = (typeof VolumeContextKey)[keyof typeof VolumeContextKey];

/** The fields of csi.v1.NodePublishVolumeRequest the plugin reads (proto-loader, keepCase). */
export interface NodePublishVolumeRequest {
  volume_id?: string;
  target_path?: string;
  readonly?: boolean;
  volume_capability?: { access_type?: string; block?: unknown; mount?: unknown } | null;
  volume_context?: Record<string, string>;
}

export interface NodeUnpublishVolumeRequest {
  volume_id?: string;
  target_path?: string;
}

/** Who asks for a channel: what the `authorize` hook gets. */
export interface ChannelMountRequest {
  namespace: string;
  channel: string;
  pod: string;
  podUid: string;
  serviceAccount: string;
}

export interface PublishPlan extends ChannelMountRequest {
  volumeId: string;
  targetPath: string;
  readonly: boolean;
}

const refuse = (problem: string, hint: string): CsiRefusal => new CsiRefusal(status.INVALID_ARGUMENT, problem, hint);

function checkIds(volumeId: string | undefined, targetPath: string | undefined): { volumeId: string; targetPath: string } {
  if (!volumeId) throw refuse('The request has no volume_id', 'The kubelet always sends one; check the caller');
  if (!targetPath) throw refuse('The request has no target_path', 'The kubelet always sends one; check the caller');
  if (!isAbsolute(targetPath) || targetPath.includes('\0'))
    throw refuse(`target_path ${JSON.stringify(targetPath)} is not an absolute path`, 'Pass an absolute path');
  return { volumeId, targetPath };
}

function label(kind: 'namespace' | 'channel name', value: string | undefined, what: string): string {
  if (value === undefined || value === '') {
    throw refuse(
      `The volume has no ${what}`,
      kind === 'namespace' ? 'Set podInfoOnMount: true on the shimmy.dev CSIDriver' : 'Let the Shimmy webhook add the volume',
    );
  }
  try {
    validateName(kind, value);
  } catch (err) {
    throw refuse(`The volume's ${what} ${JSON.stringify(value)} is not a DNS-1123 label`, (err as Error).message);
  }
  return value;
}

/** What to mount for a NodePublishVolume request, or a CsiRefusal (INVALID_ARGUMENT or PERMISSION_DENIED). */
export function planPublish(req: NodePublishVolumeRequest): PublishPlan {
  const { volumeId, targetPath } = checkIds(req.volume_id, req.target_path);
  const cap = req.volume_capability;
  if (!cap) throw refuse('The request has no volume_capability', 'The kubelet always sends one; check the caller');
  if (cap.access_type === 'block' || cap.block) throw refuse('A Shimmy channel cannot be a block volume', 'Use it as a filesystem volume (volumeMounts)');
  const ctx = req.volume_context ?? {};
  if (ctx[VolumeContextKey.EPHEMERAL] !== 'true') {
    throw refuse(
      'The volume is not an inline ephemeral volume',
      'Mount channels through the inline CSI volume that the Shimmy webhook adds, not a PersistentVolume',
    );
  }
  const namespace = label('namespace', ctx[VolumeContextKey.POD_NAMESPACE], `pod namespace (${VolumeContextKey.POD_NAMESPACE})`);
  const channel = label('channel name', ctx[VolumeContextKey.CHANNEL], `channel (attribute "${VolumeContextKey.CHANNEL}")`);
  const named = ctx[VolumeContextKey.NAMESPACE];
  if (named !== undefined && named !== namespace) {
    throw new CsiRefusal(
      status.PERMISSION_DENIED,
      `The volume names namespace ${JSON.stringify(named)}, but the pod is in ${JSON.stringify(namespace)}`,
      "A pod can mount only its own namespace's channels; remove the namespace attribute",
    );
  }
  return {
    volumeId,
    targetPath,
    readonly: req.readonly === true,
    namespace,
    channel,
    pod: ctx[VolumeContextKey.POD_NAME] ?? '',
    podUid: ctx[VolumeContextKey.POD_UID] ?? '',
    serviceAccount: ctx[VolumeContextKey.SERVICE_ACCOUNT] ?? '',
  };
}

/** The target of a NodeUnpublishVolume request, or a CsiRefusal (INVALID_ARGUMENT). */
export function planUnpublish(req: NodeUnpublishVolumeRequest): { volumeId: string; targetPath: string } {
  return checkIds(req.volume_id, req.target_path);
}
