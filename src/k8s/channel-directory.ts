/**
 * The channels the controller knows of, by namespace, with selectors compiled once per
 * resourceVersion. The webhook asks it which channels a pod's labels select.
 */
import { resolveChannel, type ResolvedChannel } from './channel-spec.js';
import { compileSelector, type Labels, type Matcher } from './selector.js';
import type { SharedMemoryChannel } from './types.js';

interface Entry {
  channel: SharedMemoryChannel;
  resolved?: ResolvedChannel;
  matcher?: Matcher;
  problem?: string;
}

export interface ChannelMatch {
  channels: ResolvedChannel[];
  /** One line per channel that could not be considered (an invalid selector, say). */
  problems: string[];
}

export class ChannelDirectory {
  private readonly byNamespace = new Map<string, Map<string, Entry>>();

  /** `segmentOwner`: hardened HostIPC (see resolveChannel). */
  constructor(private readonly segmentOwner?: number) {}

  upsert(channel: SharedMemoryChannel): void {
    const { namespace, name } = channel.metadata;
    if (!namespace || !name) return;
    let names = this.byNamespace.get(namespace);
    if (!names) this.byNamespace.set(namespace, (names = new Map()));
    const entry: Entry = { channel };
    try {
      entry.matcher = compileSelector(channel.spec?.selector);
      entry.resolved = resolveChannel(channel, this.segmentOwner);
    } catch (err) {
      entry.problem = `shimmy: channel ${name} was skipped: ${(err as Error).message}; fix it with kubectl edit shmc ${name}`;
    }
    names.set(name, entry);
  }

  remove(channel: SharedMemoryChannel): void {
    const { namespace, name } = channel.metadata;
    if (namespace && name) this.byNamespace.get(namespace)?.delete(name);
  }

  get(namespace: string, name: string): SharedMemoryChannel | undefined {
    return this.byNamespace.get(namespace)?.get(name)?.channel;
  }

  /** Problem with a channel's spec (an invalid selector, say), or undefined. */
  problemOf(namespace: string, name: string): string | undefined {
    return this.byNamespace.get(namespace)?.get(name)?.problem;
  }

  all(): SharedMemoryChannel[] {
    return [...this.byNamespace.values()].flatMap((m) => [...m.values()].map((e) => e.channel));
  }

  /** Matching channels sorted by name, so patches and env order are stable. */
  match(namespace: string, labels: Labels): ChannelMatch {
    const channels: ResolvedChannel[] = [];
    const problems: string[] = [];
    const names = this.byNamespace.get(namespace);
    if (names) {
      for (const entry of names.values()) {
        if (entry.problem) problems.push(entry.problem);
        else if (entry.matcher!(labels)) channels.push(entry.resolved!);
      }
    }
    channels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { channels, problems };
  }
}
