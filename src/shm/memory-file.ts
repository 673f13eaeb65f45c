/**
 * A channel's memory as a file mapped with mmap (the mode without hostIPC): the node agent
 * makes a sealed memfd and its CSI plugin mounts it into the pods a channel selects. A file
 * that a writer could shrink is refused: truncating it under a reader would kill that
 * reader with SIGBUS, so only size-sealed files (memfds) are mapped.
 */
import { closeSync, fstatSync, openSync, statSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import { ErrorCode, ShimmyError } from '../errors.js';
import * as native from './native.js';
import type { Address } from './native.js';
import type { SharedMemory } from './shared-memory.js';

const { EACCES, EMFILE, ENFILE, ENOENT, ENOMEM, EPERM } = constants.errno;

/** The largest file mapped: larger than any channel's segment (4 GiB of ring), far below the address space. */
const MAX_FILE_BYTES = 2 ** 33;

export interface MemoryFileInfo {
  size: number;
  uid: number;
  gid: number;
  /** Permission bits. */
  mode: number;
}

function fail(errno: number, call: string, what: string): never {
  switch (errno) {
    case ENOENT:
      throw new ShimmyError(
        ErrorCode.SEGMENT_NOT_FOUND,
        `No memory file ${what} exists`,
        'Check the path; in a pod the node agent mounts it once the channel selects the pod',
      );
    case EACCES:
    case EPERM:
      throw new ShimmyError(
        ErrorCode.PERMISSION_DENIED,
        `${call} on memory file ${what} was refused for uid ${process.getuid?.()}`,
        "Run with the file's group (the pod's supplemental group for the channel) or as its owner",
      );
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      throw new ShimmyError(
        ErrorCode.SYSTEM_LIMIT,
        `${call} on memory file ${what} hit a limit (errno ${errno})`,
        'Close unused channels or raise the limit on open files',
      );
    default:
      throw new ShimmyError(ErrorCode.SYSCALL_FAILED, `${call} on memory file ${what} failed with errno ${errno}`, `See \`man 2 ${call}\``);
  }
}

function errnoOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  const errno = code ? (constants.errno as Record<string, number>)[code] : undefined;
  return errno ?? EPERM;
}

export class MemoryFile implements SharedMemory {
  readonly buffer: ArrayBuffer;
  private addr: Address | null;
  private fd: number | null;
  private readonly ino: number;
  private readonly dev: number;

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: number,
    addr: Address,
    /** The file is ours: we made it, nobody else had a path to it before. */
    readonly created: boolean,
  ) {
    this.fd = fd;
    this.addr = addr;
    this.buffer = native.view(addr, size);
    const st = fstatSync(fd);
    this.ino = st.ino;
    this.dev = st.dev;
  }

  get description(): string {
    return `memory file ${this.path}`;
  }

  /**
   * Makes a sealed memfd of `size` zero bytes. Other processes of the same user (or root)
   * reach it at `/proc/<pid>/fd/<fd>`, which is its `path`; the node agent mounts it
   * somewhere stable instead.
   */
  static create(name: string, size: number, permissions = 0o660): MemoryFile {
    const fd = native.memfdSealed(`shimmy:${name}`, size, permissions & 0o777);
    if (fd < 0) fail(-fd, 'memfd_create', name);
    return MemoryFile.map(`/proc/${process.pid}/fd/${fd}`, fd, size, true);
  }

  /**
   * Maps the memory file at `path`, which must be a regular file sealed against shrinking
   * and growing; `check` may refuse it (by throwing) before it is mapped.
   */
  static attach(path: string, check?: (info: MemoryFileInfo) => void): MemoryFile {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
    } catch (err) {
      fail(errnoOf(err), 'open', path);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new ShimmyError(ErrorCode.UNTRUSTED_SEGMENT, `${path} is not a regular file`, 'Point the channel at the memory file the node agent mounts');
      const sealed = native.sizeSealed(fd);
      if (sealed < 0) fail(-sealed, 'fcntl', path);
      if (sealed === 0) {
        throw new ShimmyError(
          ErrorCode.UNTRUSTED_SEGMENT,
          `Memory file ${path} is not sealed against resizing: anyone who may write it could truncate it and crash every process that maps it (SIGBUS), so it is not used`,
          'Use the memory file the node agent makes (a sealed memfd); in a pod, the path SHIMMY_CHANNEL_<NAME>_FILE names',
        );
      }
      if (st.size <= 0 || st.size > MAX_FILE_BYTES) {
        throw new ShimmyError(
          ErrorCode.CORRUPT_HEADER,
          `Memory file ${path} is ${st.size} bytes, outside 1 B..${MAX_FILE_BYTES} B`,
          'Remove it and let the node agent make the channel again',
        );
      }
      check?.({ size: st.size, uid: st.uid, gid: st.gid, mode: st.mode & 0o777 });
      return MemoryFile.map(path, fd, st.size, false);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static map(path: string, fd: number, size: number, created: boolean): MemoryFile {
    const addr = native.mmapShared(fd, size);
    if (typeof addr === 'number') {
      if (created) closeSync(fd);
      fail(-addr, 'mmap', path);
    }
    return new MemoryFile(path, fd, size, addr, created);
  }

  /** The descriptor, for a caller that hands the file on (the agent mounts /proc/self/fd/<fd>). */
  get descriptor(): number {
    if (this.fd === null) throw new ShimmyError(ErrorCode.CLOSED, `Memory file ${this.path} is detached`, 'Open the channel again');
    return this.fd;
  }

  get attached(): boolean {
    return this.addr !== null;
  }

  wordAddress(byteOffset: number): Address {
    if (!this.addr) throw new ShimmyError(ErrorCode.CLOSED, `Memory file ${this.path} is detached`, 'Open the channel again');
    return native.offsetAddress(this.addr, byteOffset);
  }

  /** The path no longer leads to this file: it was unmounted, removed or replaced. */
  removed(): boolean {
    if (this.created) return false;
    try {
      const st = statSync(this.path);
      return st.ino !== this.ino || st.dev !== this.dev;
    } catch {
      return true;
    }
  }

  users(): number | null {
    return null;
  }

  detach(viewsMayOutlive = false): void {
    if (this.addr) {
      if (!viewsMayOutlive || native.detachHarmlessly(this.addr, this.size) !== 0) native.munmap(this.addr, this.size);
      this.addr = null;
    }
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
