/**
 * Which channels are mounted into pods on this node: target path → `namespace/channel`.
 * The node agent must not remove the memory of a channel that a pod has mounted; after a
 * restart it rebuilds this from /proc/self/mountinfo (`channelBindMounts`).
 */
export class PublishedVolumes {
  private readonly byTarget = new Map<string, string>();

  constructor(mounts: Iterable<[target: string, key: string]> = []) {
    for (const [target, key] of mounts) this.byTarget.set(target, key);
  }

  add(target: string, key: string): void {
    this.byTarget.set(target, key);
  }

  remove(target: string): void {
    this.byTarget.delete(target);
  }

  /** `namespace/channel` → how many volumes of it are mounted. */
  channels(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const key of this.byTarget.values()) counts.set(key, (counts.get(key) ?? 0) + 1);
    return counts;
  }
}

/** The key `publishedChannels()` uses for a channel. */
export const publishedKey = (namespace: string, channel: string): string => `${namespace}/${channel}`;
