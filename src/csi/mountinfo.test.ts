import { describe, expect, it } from 'vitest';
import { channelBindMounts, locate, mountAt, mountsDirectory, parseMountinfo } from './mountinfo.js';

// As on a node: / is ext4; the channel root /run/shimmy is a tmpfs; two pods mount channels
// of it; one pod mounts a plain directory of /var/lib/kubelet; /run/plain is a channel root
// that is a directory of the ext4 root filesystem.
const NODE = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 22 0:40 / /run/shimmy rw,nosuid,nodev shared:12 - tmpfs tmpfs rw,size=65536k',
  '41 22 0:40 /video/frames /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/frames/mount ro,nosuid,nodev,noexec,relatime shared:12 - tmpfs tmpfs rw',
  '42 22 0:40 /video/frames /var/lib/kubelet/pods/u2/volumes/kubernetes.io~csi/frames/mount rw,nosuid,nodev,noexec shared:12 - tmpfs tmpfs rw',
  '43 22 0:40 /audio/pcm /var/lib/kubelet/pods/u3/volumes/kubernetes.io~csi/pcm/mount rw,nosuid,nodev,noexec shared:12 - tmpfs tmpfs rw',
  '44 22 0:40 /audio /var/lib/kubelet/pods/u4/volumes/whole-namespace rw shared:12 - tmpfs tmpfs rw',
  '45 22 0:41 /video/frames /mnt/other-tmpfs rw shared:13 - tmpfs tmpfs rw',
  '46 22 254:0 /var/lib/kubelet/x /mnt/x rw shared:1 - ext4 /dev/vda rw',
  '47 22 254:0 /run/plain/ns/ch /mnt/with\\040space rw shared:1 - ext4 /dev/vda rw',
  'not a mountinfo line',
].join('\n');

describe('parseMountinfo', () => {
  it('reads the fields and undoes the octal escapes', () => {
    const entries = parseMountinfo(NODE);
    expect(entries).toHaveLength(9);
    expect(entries[2]).toEqual({
      id: 41,
      parentId: 22,
      device: '0:40',
      root: '/video/frames',
      mountPoint: '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/frames/mount',
      options: ['ro', 'nosuid', 'nodev', 'noexec', 'relatime'],
      fsType: 'tmpfs',
      source: 'tmpfs',
    });
    expect(entries[8]!.mountPoint).toBe('/mnt/with space');
  });

  it('takes lines without optional fields', () => {
    expect(parseMountinfo('25 1 0:5 / /dev rw - devtmpfs udev rw')[0]).toMatchObject({ mountPoint: '/dev', fsType: 'devtmpfs' });
  });
});

describe('locate', () => {
  it('gives a path on a tmpfs root as its path within the tmpfs', () => {
    const where = locate(parseMountinfo(NODE), '/run/shimmy/video/frames')!;
    expect(where.mount.id).toBe(30);
    expect(where.pathInFs).toBe('/video/frames');
  });

  it('gives a plain directory as its path within the root filesystem', () => {
    expect(locate(parseMountinfo(NODE), '/run/plain/ns/ch')!.pathInFs).toBe('/run/plain/ns/ch');
  });

  it('does not take /run/shimmy-other for a path below /run/shimmy', () => {
    expect(locate(parseMountinfo(NODE), '/run/shimmy-other/x')!.mount.id).toBe(22);
  });
});

describe('mountsDirectory', () => {
  it('matches a bind mount to its source directory only', () => {
    const entries = parseMountinfo(NODE);
    const frames = locate(entries, '/run/shimmy/video/frames')!;
    expect(mountsDirectory(mountAt(entries, '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/frames/mount')!, frames)).toBe(true);
    expect(mountsDirectory(mountAt(entries, '/mnt/other-tmpfs')!, frames)).toBe(false);
    expect(mountsDirectory(mountAt(entries, '/var/lib/kubelet/pods/u3/volumes/kubernetes.io~csi/pcm/mount')!, frames)).toBe(false);
    expect(mountAt(entries, '/var/lib/kubelet/pods/u9')).toBeUndefined();
  });
});

describe('channelBindMounts', () => {
  it('finds the bind mounts of channel directories of a tmpfs root', () => {
    expect(channelBindMounts(parseMountinfo(NODE), '/run/shimmy')).toEqual(
      new Map([
        ['/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/frames/mount', 'video/frames'],
        ['/var/lib/kubelet/pods/u2/volumes/kubernetes.io~csi/frames/mount', 'video/frames'],
        ['/var/lib/kubelet/pods/u3/volumes/kubernetes.io~csi/pcm/mount', 'audio/pcm'],
      ]),
    );
  });

  it('finds them for a root that is a plain directory, by its full path', () => {
    expect(channelBindMounts(parseMountinfo(NODE), '/run/plain')).toEqual(new Map([['/mnt/with space', 'ns/ch']]));
  });

  it('finds nothing under a root without such mounts', () => {
    expect(channelBindMounts(parseMountinfo(NODE), '/srv/none').size).toBe(0);
  });
});
