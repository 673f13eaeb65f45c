/**
 * Bind mounts through mount(2) and umount2(2) (libshimmy, on a libuv worker), so the agent's
 * image needs no mount(8); each call is bounded in time: a hung mount fails the CSI call
 * (the kubelet retries) instead of holding it for ever.
 */
import { constants } from 'node:os';
import { ErrorCode, ShimmyError } from '../errors.js';
import { MountFlag, mountAsync, umountAsync } from '../shm/native.js';

/** Default bound on one mount or umount call. */
export const DEFAULT_MOUNT_TIMEOUT_MS = 10_000;

const errnoName = (errno: number) => Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;

async function bounded(what: string, call: Promise<number>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const rc = await Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  if (rc === 0) return;
  throw new ShimmyError(
    ErrorCode.SYSCALL_FAILED,
    `${what} ${rc === 'timeout' ? `did not finish in ${timeoutMs} ms` : `failed: ${errnoName(-rc)}`}`,
    'The kubelet retries; if it keeps failing, check the node agent has CAP_SYS_ADMIN in the host mount namespace',
  );
}

/**
 * Bind-mounts `source` onto `target`, then remounts it nosuid,nodev,noexec (and read-only
 * when asked). `source` may be a /proc/<pid>/fd/<n> link to a directory this process holds
 * open: mount(2) follows it to that very directory. If the remount fails, the bind mount is
 * undone.
 */
export async function bindMount(source: string, target: string, readonly: boolean, timeoutMs = DEFAULT_MOUNT_TIMEOUT_MS): Promise<void> {
  await bounded(`mount --bind ${source} ${target}`, mountAsync(source, target, MountFlag.BIND), timeoutMs);
  const flags = MountFlag.REMOUNT | MountFlag.BIND | MountFlag.NOSUID | MountFlag.NODEV | MountFlag.NOEXEC | (readonly ? MountFlag.RDONLY : 0);
  try {
    await bounded(`remount ${target} nosuid,nodev,noexec${readonly ? ',ro' : ''}`, mountAsync(null, target, flags), timeoutMs);
  } catch (err) {
    await unmount(target, timeoutMs).catch(() => undefined);
    throw err;
  }
}

export function unmount(target: string, timeoutMs = DEFAULT_MOUNT_TIMEOUT_MS): Promise<void> {
  return bounded(`umount ${target}`, umountAsync(target), timeoutMs);
}
