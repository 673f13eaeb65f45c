import { ErrorCode, ShimmyError } from '../errors.js';
import { formatKey } from '../shm/segment.js';
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
