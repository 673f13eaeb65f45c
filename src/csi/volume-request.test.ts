import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { CsiRefusal } from './csi-error.js';
import { planPublish, planUnpublish, type NodePublishVolumeRequest } from './volume-request.js';

const valid = (): NodePublishVolumeRequest => ({
  volume_id: 'csi-0123',
  target_path: '/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/frames/mount',
  readonly: false,
  volume_capability: { access_type: 'mount', mount: { fs_type: '', mount_flags: [] } },
  volume_context: {
    channel: 'frames',
    'csi.storage.k8s.io/ephemeral': 'true',
    'csi.storage.k8s.io/pod.namespace': 'video',
    'csi.storage.k8s.io/pod.name': 'decoder-0',
    'csi.storage.k8s.io/pod.uid': 'uid-1',
    'csi.storage.k8s.io/serviceAccount.name': 'decoder',
  },
});

function refusal(fn: () => unknown): CsiRefusal {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CsiRefusal);
    expect((err as CsiRefusal).code).toBe(ErrorCode.CSI_REFUSED);
    return err as CsiRefusal;
  }
  throw new Error('expected a refusal');
}

const withContext = (ctx: Record<string, string | undefined>): NodePublishVolumeRequest => {
  const req = valid();
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...req.volume_context, ...ctx })) if (v !== undefined) merged[k] = v;
  return { ...req, volume_context: merged };
};

describe('planPublish', () => {
  it('takes the namespace from the kubelet and the channel from the volume', () => {
    expect(planPublish(valid())).toEqual({
      volumeId: 'csi-0123',
      targetPath: valid().target_path,
      readonly: false,
      namespace: 'video',
      channel: 'frames',
      pod: 'decoder-0',
      podUid: 'uid-1',
      serviceAccount: 'decoder',
    });
  });

  it('accepts a namespace attribute equal to the pod namespace, and carries readonly', () => {
    expect(planPublish({ ...withContext({ namespace: 'video' }), readonly: true })).toMatchObject({ namespace: 'video', readonly: true });
  });

  it('refuses a namespace attribute naming another namespace with PERMISSION_DENIED', () => {
    expect(refusal(() => planPublish(withContext({ namespace: 'payments' }))).grpcCode).toBe(status.PERMISSION_DENIED);
  });

  it.each([
    ['a volume that is not ephemeral', withContext({ 'csi.storage.k8s.io/ephemeral': undefined })],
    ['ephemeral "false"', withContext({ 'csi.storage.k8s.io/ephemeral': 'false' })],
    ['a missing channel', withContext({ channel: undefined })],
    ['a channel with a path', withContext({ channel: '../b' })],
    ['a channel with a slash', withContext({ channel: 'a/b' })],
    ['an upper-case channel', withContext({ channel: 'Frames' })],
    ['a channel ending in "-"', withContext({ channel: 'frames-' })],
    ['a 64-character channel', withContext({ channel: 'a'.repeat(64) })],
    ['a missing pod namespace', withContext({ 'csi.storage.k8s.io/pod.namespace': undefined })],
    ['a pod namespace with a path', withContext({ 'csi.storage.k8s.io/pod.namespace': '..' })],
    ['a block volume', { ...valid(), volume_capability: { access_type: 'block', block: {} } }],
    ['no volume capability', { ...valid(), volume_capability: null }],
    ['no target path', { ...valid(), target_path: '' }],
    ['a relative target path', { ...valid(), target_path: 'pods/mount' }],
    ['no volume id', { ...valid(), volume_id: '' }],
  ])('refuses %s with INVALID_ARGUMENT', (_, req) => {
    expect(refusal(() => planPublish(req)).grpcCode).toBe(status.INVALID_ARGUMENT);
  });

  it('accepts a 63-character channel', () => {
    expect(planPublish(withContext({ channel: 'a'.repeat(63) })).channel).toHaveLength(63);
  });
});

describe('planUnpublish', () => {
  it('needs a volume id and an absolute target path', () => {
    expect(planUnpublish({ volume_id: 'v', target_path: '/t' })).toEqual({ volumeId: 'v', targetPath: '/t' });
    expect(refusal(() => planUnpublish({ volume_id: 'v', target_path: 't' })).grpcCode).toBe(status.INVALID_ARGUMENT);
    expect(refusal(() => planUnpublish({ target_path: '/t' })).grpcCode).toBe(status.INVALID_ARGUMENT);
  });
});
