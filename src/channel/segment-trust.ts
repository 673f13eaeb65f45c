import { ErrorCode, ShimmyError } from '../errors.js';
import { formatKey, type SegmentOwner, type SegmentPerms } from '../shm/segment.js';
import type { ShmInfo } from '../shm/native.js';

const OTHERS_WRITE = 0o002;

/**
 * Whether a segment found under a channel's key may be trusted with the channel's
 * messages. A segment that anyone on the host may write (mode o+w) and that another uid
 * made or owns could be a squatter's: it would take the channel's traffic and could
 * rewrite it. Only its own creator may use such a segment.
 */
export function checkSegmentTrust(info: Pick<ShmInfo, 'uid' | 'creatorUid' | 'mode'>, key: number, label: string, uid = process.getuid?.() ?? -1): void {
  if ((info.mode & OTHERS_WRITE) === 0) return;
  if (info.uid === uid && info.creatorUid === uid) return;
  const mode = info.mode.toString(8).padStart(4, '0');
  throw new ShimmyError(
    ErrorCode.UNTRUSTED_SEGMENT,
    `Segment ${formatKey(key)} for channel ${label} is writable by every user (mode ${mode}) and was made by uid ${info.creatorUid}, owned by uid ${info.uid}, not by this process (uid ${uid}); it may be another user's squat, so it is not used`,
    `Remove it (\`ipcrm -M ${formatKey(key)}\` as its owner or root) and create the channel again with --permissions 0660`,
  );
}

/**
 * Why a segment is not the one the node agent made for a hardened channel, or undefined
 * when it is: creator and owner are the agent's segment owner and the channel's group (the
 * kernel grants access by either), and others have no access. Anything else was made by
 * someone else under the channel's key: a squat, or a segment from before hardening.
 */
export function ownerProblem(info: SegmentPerms, owner: SegmentOwner): string | undefined {
  const mode = info.mode.toString(8).padStart(4, '0');
  if (info.uid !== owner.uid || info.creatorUid !== owner.uid)
    return `it was made by uid ${info.creatorUid} and is owned by uid ${info.uid}, not the agent's segment owner ${owner.uid}`;
  if (info.gid !== owner.gid || info.creatorGid !== owner.gid)
    return `its groups are ${info.creatorGid} (creator) and ${info.gid}, not the channel's group ${owner.gid}`;
  if ((info.mode & 0o007) !== 0) return `its mode ${mode} gives other users access`;
  return undefined;
}

/** Refuses a segment that `ownerProblem` finds fault with. */
export function checkSegmentOwner(info: ShmInfo, owner: SegmentOwner, key: number, label: string): void {
  const problem = ownerProblem(info, owner);
  if (problem === undefined) return;
  throw new ShimmyError(
    ErrorCode.UNTRUSTED_SEGMENT,
    `Segment ${formatKey(key)} for channel ${label} is not the node agent's: ${problem}; it is not used`,
    "The node agent replaces such a segment with its own within a pass; if this persists, check the agent's log on this node",
  );
}
