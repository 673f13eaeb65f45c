/**
 * A channel's memory as a file mapped with mmap (the mode without hostIPC): the node agent
 * keeps it on a node-local tmpfs and its CSI plugin mounts the channel's directory into the
 * pods the channel selects. Every process that takes part may write the file, so any of them
 * could also truncate it; the mapping is guarded (native.guard), so a reader that then
 * touches a lost page sees zeros and its channel reports the file gone, instead of dying of
 * SIGBUS.
 */
import { closeSync, fchmodSync, fstatSync, ftruncateSync, openSync, statSync, unlinkSync, constants as fsConstants, type Stats } from 'node:fs';
import { constants } from 'node:os';
import { ErrorCode, ShimmyError } from '../errors.js';
import * as native from './native.js';
import type { Address } from './native.js';
import type { SharedMemory } from './shared-memory.js';

const { EACCES, EEXIST, EISDIR, ELOOP, EMFILE, ENFILE, ENOENT, ENOMEM, ENOSPC, EPERM } = constants.errno;
const { O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDWR } = fsConstants;

/** The largest file mapped: larger than any channel's memory (two 1 GiB rings and the header), far below the address space. */
const MAX_FILE_BYTES = 2 ** 32;

function fail(errno: number, call: string, path: string): never {
  switch (errno) {
    case ENOENT:
      throw new ShimmyError(
        ErrorCode.SEGMENT_NOT_FOUND,
        `No memory file ${path} exists`,
        'Check the path; in a pod the node agent mounts the channel once the channel selects the pod',
      );
    case EEXIST:
      throw new ShimmyError(ErrorCode.SEGMENT_EXISTS, `The memory file ${path} already exists`, 'Open it instead, or remove it first');
    case ELOOP:
      throw new ShimmyError(ErrorCode.UNTRUSTED_SEGMENT, `${path} is a symbolic link`, 'Point the channel at the memory file itself');
    case EISDIR:
      throw new ShimmyError(ErrorCode.UNTRUSTED_SEGMENT, `${path} is not a regular file`, 'Point the channel at the memory file the node agent makes');
    case EACCES:
    case EPERM:
      throw new ShimmyError(
        ErrorCode.PERMISSION_DENIED,
        `${call} on memory file ${path} was refused for uid ${process.getuid?.()}`,
        "Run with the file's group (the pod's supplemental group for the channel) or as its owner",
      );
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOSPC:
      throw new ShimmyError(
        ErrorCode.SYSTEM_LIMIT,
        `${call} on memory file ${path} hit a limit (errno ${errno})`,
        'Close unused channels, free space on its filesystem or raise the limit',
      );
    default:
      throw new ShimmyError(ErrorCode.SYSCALL_FAILED, `${call} on memory file ${path} failed with errno ${errno}`, `See \`man 2 ${call}\``);
  }
}

function errnoOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
  return errno ?? EPERM;
}

function attempt<T>(call: string, path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    fail(errnoOf(err), call, path);
  }
}

export class MemoryFile implements SharedMemory {
  readonly buffer: ArrayBuffer;
  private addr: Address | null;

  private constructor(
    readonly path: string,
    readonly size: number,
    addr: Address,
    private readonly guardIndex: number,
    /** Which file the path led to when it was mapped (removed() compares). */
    private readonly file: Pick<Stats, 'ino' | 'dev'>,
  ) {
    this.addr = addr;
    this.buffer = native.view(addr, size);
  }

  get description(): string {
    return `memory file ${this.path}`;
  }

  /** Makes a new file of `size` zero bytes at `path` (not through a symbolic link) and maps it. */
  static create(path: string, size: number, permissions = 0o660): MemoryFile {
    const fd = attempt('open', path, () => openSync(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, permissions & 0o777));
    try {
      attempt('fchmod', path, () => fchmodSync(fd, permissions & 0o777));
      attempt('ftruncate', path, () => ftruncateSync(fd, size));
      return MemoryFile.map(path, fd, fstatSync(fd));
    } catch (err) {
      unlinkSync(path);
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  /** Maps the regular file at `path` (not a symbolic link, FIFO or device). */
  static attach(path: string): MemoryFile {
    const fd = attempt('open', path, () => openSync(path, O_RDWR | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new ShimmyError(ErrorCode.UNTRUSTED_SEGMENT, `${path} is not a regular file`, 'Point the channel at the memory file the node agent makes');
      if (st.size <= 0 || st.size > MAX_FILE_BYTES) {
        throw new ShimmyError(
          ErrorCode.CORRUPT_HEADER,
          `Memory file ${path} is ${st.size} bytes, outside 1 B..${MAX_FILE_BYTES} B`,
          'Remove it and let the node agent make the channel again',
        );
      }
      return MemoryFile.map(path, fd, st);
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the file's name; processes that have it mapped keep it until they detach. */
  static remove(path: string): void {
    attempt('unlink', path, () => unlinkSync(path));
  }

  /** The mapping outlives `fd`, which the caller closes. */
  private static map(path: string, fd: number, st: Stats): MemoryFile {
    const addr = native.mmapShared(fd, st.size);
    if (typeof addr === 'number') fail(-addr, 'mmap', path);
    const index = native.guard(addr, st.size);
    if (index < 0) {
      native.munmap(addr, st.size);
      fail(-index, 'sigaction', path);
    }
    return new MemoryFile(path, st.size, addr, index, { ino: st.ino, dev: st.dev });
  }

  get attached(): boolean {
    return this.addr !== null;
  }

  wordAddress(byteOffset: number): Address {
    if (!this.addr) throw new ShimmyError(ErrorCode.CLOSED, `Memory file ${this.path} is detached`, 'Open the channel again');
    return native.offsetAddress(this.addr, byteOffset);
  }

  /** The file shrank under the mapping (its pages are now private zeros), or the path no longer leads to it. */
  removed(): boolean {
    if (this.truncated) return true;
    try {
      const st = statSync(this.path);
      return st.ino !== this.file.ino || st.dev !== this.file.dev;
    } catch {
      return true;
    }
  }

  /** A SIGBUS hit the mapping: the file was truncated and this process now sees private zeros. */
  get truncated(): boolean {
    return this.addr !== null && native.guardTripped(this.guardIndex);
  }

  users(): number | null {
    return null;
  }

  detach(viewsMayOutlive = false): void {
    if (this.addr) {
      native.unguard(this.guardIndex);
      if (!viewsMayOutlive || native.detachHarmlessly(this.addr, this.size) !== 0) native.munmap(this.addr, this.size);
      this.addr = null;
    }
  }
}
