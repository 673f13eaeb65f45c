/**
 * /proc/self/mountinfo, parsed, and the questions the plugin asks of it: is this path a
 * mount point, of which directory, and which mounts are bind mounts of channel directories.
 *
 * A bind mount shows the device (major:minor) of the filesystem it comes from and, in the
 * "root" field, the path of its source within that filesystem, not on the host: with the
 * channel root on a tmpfs mounted at /run/shimmy, a bind of /run/shimmy/ns/ch shows root
 * `/ns/ch`; with the channel root a plain directory of the node's ext4 at /, it shows
 * `/run/shimmy/ns/ch`. So a path is compared by (device, path within its filesystem).
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { publishedKey } from './published-volumes.js';

export interface MountEntry {
  id: number;
  parentId: number;
  /** `major:minor` of the filesystem. */
  device: string;
  /** The mounted directory's path within its filesystem. */
  root: string;
  mountPoint: string;
  /** Per-mount options, e.g. `ro`, `nosuid`. */
  options: string[];
  fsType: string;
  source: string;
}

/** Octal escapes the kernel writes for space, tab, newline and backslash. */
const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** One entry per well-formed line of a mountinfo file, in its order (later mounts last); other lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    const [id, parentId, device, root, mountPoint, options] = fields;
    if (!id || !parentId || !device || !root || !mountPoint || !options) continue;
    entries.push({
      id: Number(id),
      parentId: Number(parentId),
      device,
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      options: options.split(','),
      fsType: unescape(fields[dash + 1]!),
      source: unescape(fields[dash + 2]!),
    });
  }
  return entries;
}

export async function readMountinfo(file = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  return parseMountinfo(await readFile(file, 'utf8'));
}

const within = (dir: string, path: string): boolean => dir === '/' || path === dir || path.startsWith(`${dir}/`);

/** The mount on top at `mountPoint` (the last entry there), if `mountPoint` is one. */
export function mountAt(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  return entries.findLast((e) => e.mountPoint === mountPoint);
}

export interface FsLocation {
  /** The mount that holds the path. */
  mount: MountEntry;
  /** The path within that mount's filesystem, as a bind mount of it shows in its root field. */
  pathInFs: string;
}

/** Where an absolute, symlink-free path lives: its filesystem's device and its path within it. */
export function locate(entries: readonly MountEntry[], path: string): FsLocation | undefined {
  let best: MountEntry | undefined;
  for (const e of entries) if (within(e.mountPoint, path) && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  if (!best) return undefined;
  return { mount: best, pathInFs: posix.join(best.root, posix.relative(best.mountPoint, path)) };
}

/** Whether `entry` mounts the directory at `location` (a bind mount of it, or the same mount). */
export function mountsDirectory(entry: MountEntry, location: FsLocation): boolean {
  return entry.device === location.mount.device && entry.root === location.pathInFs;
}

/**
 * The bind mounts of directories exactly two levels below `channelRoot`
 * (`<channelRoot>/<namespace>/<channel>`), mounted elsewhere: mount point → `namespace/channel`.
 */
export function channelBindMounts(entries: readonly MountEntry[], channelRoot: string): Map<string, string> {
  const found = new Map<string, string>();
  const root = locate(entries, channelRoot);
  if (!root) return found;
  for (const e of entries) {
    if (e.device !== root.mount.device || within(channelRoot, e.mountPoint) || !within(root.pathInFs, e.root)) continue;
    const parts = posix.relative(root.pathInFs, e.root).split('/');
    if (parts.length === 2 && parts.every((p) => p !== '' && p !== '..')) found.set(e.mountPoint, publishedKey(parts[0]!, parts[1]!));
  }
  return found;
}
