/**
 * mount(8) and umount(8) from util-linux, each call bounded in time: a hung mount fails the
 * CSI call (the kubelet retries) instead of holding it for ever.
 */
import { execFile } from 'node:child_process';
import { ErrorCode, ShimmyError } from '../errors.js';

/** Default bound on one mount or umount command. */
export const DEFAULT_MOUNT_TIMEOUT_MS = 10_000;

function run(command: 'mount' | 'umount', args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const killed = (err as { killed?: boolean }).killed === true;
      const why = killed ? `did not finish in ${timeoutMs} ms` : `failed: ${stderr.trim() || err.message}`;
      reject(
        new ShimmyError(
          ErrorCode.SYSCALL_FAILED,
          `${command} ${args.join(' ')} ${why}`,
          'The kubelet retries; if it keeps failing, check the node agent has CAP_SYS_ADMIN in the host mount namespace',
        ),
      );
    });
  });
}

/**
 * Bind-mounts `source` onto `target`, then remounts it nosuid,nodev,noexec (and read-only
 * when asked). `source` may be a /proc/<pid>/fd/<n> link to a directory held open, which
 * mount(2) follows to that very directory: --no-canonicalize keeps mount(8) from resolving
 * it to a path again. If the remount fails, the bind mount is undone.
 */
export async function bindMount(source: string, target: string, readonly: boolean, timeoutMs = DEFAULT_MOUNT_TIMEOUT_MS): Promise<void> {
  await run('mount', ['--no-canonicalize', '--bind', source, target], timeoutMs);
  try {
    await run('mount', ['--no-canonicalize', '-o', `remount,bind,nosuid,nodev,noexec${readonly ? ',ro' : ''}`, target], timeoutMs);
  } catch (err) {
    await unmount(target, timeoutMs).catch(() => undefined);
    throw err;
  }
}

export function unmount(target: string, timeoutMs = DEFAULT_MOUNT_TIMEOUT_MS): Promise<void> {
  return run('umount', ['--no-canonicalize', target], timeoutMs);
}
