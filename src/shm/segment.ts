/**
 * A System V shared-memory segment: create, attach, stat, remove, with errno turned into
 * errors that say what to do.
 */
import { constants } from 'node:os';
import { ErrorCode, ShimmyError } from '../errors.js';
import * as native from './native.js';
import type { Address, ShmInfo } from './native.js';
import type { SharedMemory } from './shared-memory.js';
import { listSysvShm } from './sysvipc.js';

const { EACCES, EEXIST, EINVAL, ENOENT, ENOMEM, ENOSPC, EPERM } = constants.errno;

export interface SegmentId {
  key: number;
  /** Human-readable identity used in messages, e.g. `default/frames`. */
  label: string;
}

/** The largest uid or gid (4294967295 is (uid_t) -1, "unchanged"). */
export const MAX_ID = 4294967294;

/** Who a hardened segment belongs to: the agent's segment owner and the channel's group. */
export interface SegmentOwner {
  uid: number;
  gid: number;
}

/** A segment's creator, owner and mode, as IPC_STAT reads them. */
export type SegmentPerms = Pick<ShmInfo, 'uid' | 'creatorUid' | 'gid' | 'creatorGid' | 'mode'>;

export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

function fail(errno: number, call: string, seg: SegmentId, size?: number): never {
  const what = `segment ${formatKey(seg.key)} (channel ${seg.label})`;
  switch (errno) {
    case ENOENT:
      throw new ShimmyError(
        ErrorCode.SEGMENT_NOT_FOUND,
        `No ${what} exists on this host`,
        `Create it first: \`shimmy channel create ${seg.label.split('/').pop()} --namespace ${seg.label.split('/')[0]}\`, or let the node agent create it`,
      );
    case EEXIST:
      throw new ShimmyError(ErrorCode.SEGMENT_EXISTS, `The ${what} already exists`, 'Attach to it instead, or remove it with `shimmy channel rm` first');
    case EACCES:
    case EPERM: {
      const entry = listSysvShm().find((e) => e.key === (seg.key | 0));
      const owner = entry ? `uid ${entry.uid} with permissions ${entry.mode.toString(8).padStart(4, '0')}` : 'another user';
      throw new ShimmyError(
        ErrorCode.PERMISSION_DENIED,
        `${call} on ${what} was refused: the segment belongs to ${owner} and this process runs as uid ${process.getuid?.()}`,
        'Run as the owner, or recreate the channel with `--permissions 0660` and a shared group',
      );
    }
    case EINVAL:
      throw new ShimmyError(
        ErrorCode.SIZE_MISMATCH,
        `${call} on ${what} failed with EINVAL${size !== undefined ? ` for ${size} bytes` : ''}: the existing segment has a different size, or the size is outside kernel.shmmax`,
        'Remove the stale segment with `shimmy channel rm` and create it again with the wanted capacity',
      );
    case ENOMEM:
    case ENOSPC:
      throw new ShimmyError(
        ErrorCode.SYSTEM_LIMIT,
        `${call} on ${what} hit a kernel limit (${errno === ENOMEM ? 'ENOMEM' : 'ENOSPC'})`,
        'Raise kernel.shmall / kernel.shmmni or remove unused channels (`shimmy channel ls`)',
      );
    default:
      throw new ShimmyError(ErrorCode.SYSCALL_FAILED, `${call} on ${what} failed with errno ${errno}`, 'See `man 2 ' + call + '`');
  }
}

export class Segment implements SharedMemory {
  readonly id: number;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly created: boolean;
  private addr: Address | null;

  private constructor(
    readonly seg: SegmentId,
    id: number,
    size: number,
    addr: Address,
    created: boolean,
  ) {
    this.id = id;
    this.size = size;
    this.addr = addr;
    this.created = created;
    this.buffer = native.view(addr, size);
  }

  /**
   * Creates a new segment; fails with SEGMENT_EXISTS when the key is taken. With `owner`, the
   * segment is made under that uid and gid (creator and owner both), which needs CAP_SETUID
   * and CAP_SETGID; this process then maps it through CAP_IPC_OWNER.
   */
  static create(seg: SegmentId, size: number, permissions = 0o660, owner?: SegmentOwner): Segment {
    const id = owner
      ? native.shmCreateAs(seg.key, size, permissions & 0o777, owner.uid, owner.gid)
      : native.shmget(seg.key, size, native.IPC_CREAT | native.IPC_EXCL | (permissions & 0o777));
    if (id < 0 && owner && -id === EPERM)
      throw new ShimmyError(
        ErrorCode.PERMISSION_DENIED,
        `Making segment ${formatKey(seg.key)} (channel ${seg.label}) as uid ${owner.uid} and gid ${owner.gid} was refused: this process lacks CAP_SETUID or CAP_SETGID`,
        "Run the agent as root with CAP_SETUID, CAP_SETGID and CAP_IPC_OWNER (the chart's agent has them), or leave --segment-owner unset",
      );
    if (id < 0) fail(-id, 'shmget', seg, size);
    return Segment.map(seg, id, size, true);
  }

  /** Attaches to an existing segment, whatever its size; `check` may refuse it (by throwing) before it is mapped. */
  static attach(seg: SegmentId, check?: (info: ShmInfo) => void): Segment {
    const id = native.shmget(seg.key, 0, 0);
    if (id < 0) fail(-id, 'shmget', seg);
    const info = native.shmStat(id);
    if (typeof info === 'number') fail(-info, 'shmctl', seg);
    check?.(info);
    return Segment.map(seg, id, info.size, false);
  }

  /** The id for a key, or null when no segment has it. */
  static lookup(key: number): number | null {
    const id = native.shmget(key, 0, 0);
    return id < 0 ? null : id;
  }

  static stat(seg: SegmentId, id: number): ShmInfo {
    const info = native.shmStat(id);
    if (typeof info === 'number') fail(-info, 'shmctl', seg);
    return info;
  }

  /** Marks the segment for removal: it disappears once the last process detaches. */
  static remove(seg: SegmentId, id: number): void {
    const rc = native.shmRemove(id);
    if (rc < 0) fail(-rc, 'shmctl', seg);
  }

  private static map(seg: SegmentId, id: number, size: number, created: boolean): Segment {
    const addr = native.shmat(id);
    if (typeof addr === 'number') {
      if (created) native.shmRemove(id);
      fail(-addr, 'shmat', seg);
    }
    return new Segment(seg, id, size, addr, created);
  }

  info(): ShmInfo {
    return Segment.stat(this.seg, this.id);
  }

  get description(): string {
    return `segment ${formatKey(this.seg.key)} (id ${this.id})`;
  }

  /** Marked for removal, or gone. */
  removed(): boolean {
    try {
      return this.info().removed;
    } catch {
      return true;
    }
  }

  users(): number | null {
    return this.info().attached;
  }

  /** The address of a 32-bit word inside the segment, for futex calls. */
  wordAddress(byteOffset: number): Address {
    if (!this.addr) throw new ShimmyError(ErrorCode.CLOSED, 'The segment is detached', 'Open the channel again');
    return native.offsetAddress(this.addr, byteOffset);
  }

  get attached(): boolean {
    return this.addr !== null;
  }

  /**
   * Detaches. With `viewsMayOutlive` (endpoints handed out claims or zero-copy views), those
   * views then see private zero pages, never unmapped memory (a SIGSEGV), at the cost of the
   * address range staying reserved for the life of the process; shmdt when that mapping fails
   * or nothing was handed out (a stats-only open, as the agent makes every report).
   */
  detach(viewsMayOutlive = false): void {
    if (!this.addr) return;
    if (!viewsMayOutlive || native.detachHarmlessly(this.addr, this.size) !== 0) native.shmdt(this.addr);
    this.addr = null;
  }
}
