/**
 * The node's channel memory files (the mode without hostIPC), as the agent keeps them: each
 * channel's file is `<root>/<namespace>/<name>/ring` on a node-local tmpfs, so it outlives the
 * agent process (a restarted agent adopts what it finds), and the CSI plugin mounts the
 * channel's directory, and nothing else, into the pods the channel selects.
 *
 * Access is by mount, not by uid: the root is root's alone (0700), so no one on the host
 * reaches a file through it, while a pod that has the channel's directory mounted may run as
 * any uid (Pod Security restricted), so the directory is 0755 and the file 0666.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { Channel } from '../channel/channel.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { readHeader } from '../channel/layout.js';
import { channelKey, refOfIdentity, validateRef, type ChannelRef } from '../channel/names.js';
import { MEMORY_FILE_NAME as RING_FILE } from '../k8s/channel-spec.js';
import { MemoryFile } from '../shm/memory-file.js';
import type { MemoryStore } from './node-segments.js';
import { settingsOf, type PresentSegment, type SegmentSettings } from './segment-plan.js';

const ROOT_MODE = 0o700;
const CHANNEL_DIR_MODE = 0o755;
const FILE_MODE = 0o666;

export interface PresentFile extends PresentSegment {
  path: string;
}

const isDirectory = (path: string) => {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
};

const entries = (dir: string) => (isDirectory(dir) ? readdirSync(dir) : []);

export class ChannelFiles implements MemoryStore {
  readonly kind = 'Volume' as const;

  constructor(
    readonly root: string,
    /** How many pods have the channel's directory mounted (from the CSI plugin). */
    private readonly users: (ref: ChannelRef) => number,
  ) {}

  /** The directory the CSI plugin mounts into a pod. */
  channelDir(ref: ChannelRef): string {
    validateRef(ref);
    return join(this.root, ref.namespace, ref.name);
  }

  ringPath(ref: ChannelRef): string {
    return join(this.channelDir(ref), RING_FILE);
  }

  /** Every channel file under the root whose header names the channel of its directory; anything else is left alone. */
  present(): PresentFile[] {
    const out: PresentFile[] = [];
    for (const namespace of entries(this.root)) {
      for (const name of entries(join(this.root, namespace))) {
        const path = join(this.root, namespace, name, RING_FILE);
        let file: MemoryFile;
        try {
          file = MemoryFile.attach(path);
        } catch {
          continue;
        }
        try {
          const header = readHeader(file.buffer, path);
          const ref = refOfIdentity(header.identity);
          if (ref?.namespace !== namespace || ref.name !== name) continue;
          out.push({ key: channelKey(ref), attached: this.users(ref), sizeBytes: file.size, ref, settings: settingsOf(header), path });
        } catch {
          // not a channel's file: left for an operator
        } finally {
          file.detach();
        }
      }
    }
    return out;
  }

  /** Makes the root (0700) if needed. */
  prepare(): void {
    mkdirSync(this.root, { recursive: true, mode: ROOT_MODE });
    chmodSync(this.root, ROOT_MODE);
  }

  /** Makes the channel's file; the permissions are FILE_MODE whatever is asked (see above). */
  async create(ref: ChannelRef, settings: SegmentSettings): Promise<{ replaced: boolean }> {
    const dir = this.channelDir(ref);
    mkdirSync(dir, { recursive: true, mode: CHANNEL_DIR_MODE });
    chmodSync(join(this.root, ref.namespace), CHANNEL_DIR_MODE);
    chmodSync(dir, CHANNEL_DIR_MODE);
    Channel.createFile(ref, this.ringPath(ref), { ...settings, permissions: FILE_MODE }).close();
    return { replaced: false };
  }

  open(ref: ChannelRef): Channel {
    return Channel.openFile(ref, this.ringPath(ref));
  }

  /** Removes the channel's file and directory; processes that have it mapped end with CLOSED. */
  async remove({ ref }: PresentSegment): Promise<void> {
    const dir = this.channelDir(ref);
    try {
      Channel.removeFile(join(dir, RING_FILE));
    } catch (err) {
      if (!(err instanceof ShimmyError && err.code === ErrorCode.SEGMENT_NOT_FOUND)) throw err;
    }
    rmdirSync(dir);
    try {
      rmdirSync(join(this.root, ref.namespace));
    } catch {
      // other channels of the namespace remain
    }
  }
}
