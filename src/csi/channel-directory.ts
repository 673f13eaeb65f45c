/**
 * The channel's directory `<root>/<namespace>/<channel>`, opened so that what gets mounted is
 * the directory that was checked: every component below the root must be a real directory
 * (lstat, no symlinks), and the last one is opened with O_NOFOLLOW and compared by device and
 * inode, so swapping in a symlink between the check and the mount cannot redirect it.
 */
import { status } from '@grpc/grpc-js';
import { constants, type Stats } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CsiRefusal } from './csi-error.js';

export interface OpenChannelDirectory {
  /** `<realpath(root)>/<namespace>/<channel>`. */
  path: string;
  /** The directory, held open: mount `/proc/<pid>/fd/<handle.fd>`. Close it when done. */
  handle: FileHandle;
}

const notMadeYet = (what: string, namespace: string, channel: string): CsiRefusal =>
  new CsiRefusal(
    status.UNAVAILABLE,
    `The node agent has not made the memory of channel ${namespace}/${channel} on this node yet (${what} is missing)`,
    'The kubelet retries; check that the SharedMemoryChannel exists and that the agent on this node is running',
  );

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

async function realDirectory(path: string, namespace: string, channel: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw notMadeYet(path, namespace, channel);
    throw err;
  }
  if (st.isSymbolicLink()) {
    throw new CsiRefusal(
      status.PERMISSION_DENIED,
      `${path} is a symbolic link`,
      'Only the node agent writes the channel root; remove the link and let the agent recreate the channel',
    );
  }
  if (!st.isDirectory()) {
    throw new CsiRefusal(
      status.FAILED_PRECONDITION,
      `${path} is not a directory`,
      'Only the node agent writes the channel root; remove it and let the agent recreate the channel',
    );
  }
  return st;
}

/** Opens `<root>/<namespace>/<channel>` after checking it; names are validated DNS labels. */
export async function openChannelDirectory(root: string, namespace: string, channel: string): Promise<OpenChannelDirectory> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw notMadeYet(root, namespace, channel);
    throw err;
  }
  await realDirectory(join(realRoot, namespace), namespace, channel);
  const path = join(realRoot, namespace, channel);
  const checked = await realDirectory(path, namespace, channel);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw notMadeYet(path, namespace, channel);
    if (errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR') throw new CsiRefusal(status.PERMISSION_DENIED, `${path} changed while it was checked`, 'Retry');
    throw err;
  }
  const opened = await handle.stat();
  if (opened.dev !== checked.dev || opened.ino !== checked.ino) {
    await handle.close();
    throw new CsiRefusal(status.PERMISSION_DENIED, `${path} changed while it was checked`, 'Retry');
  }
  return { path, handle };
}
