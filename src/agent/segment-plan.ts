/**
 * What the agent does to its node's segments, as a pure function of what the node's
 * ChannelEndpoints want and what /proc/sysvipc/shm holds:
 * - a wanted segment that is absent is created with the channel's settings;
 * - a segment no endpoint wants is removed once it has been unwanted for `graceMs` and no
 *   process is attached; a segment with attached processes is never removed;
 * - a hardened channel's segment (one with an owner) that the agent did not make (a squat
 *   under the channel's key, or one from before hardening) is replaced at once: its clients
 *   refuse it anyway;
 * - while uninstalling, every segment is removed at once and nothing is created.
 * After an agent restart `unwantedSince` starts empty: what exists is adopted, and an
 * orphan waits out a full grace period before it goes.
 */
import type { ChannelConfig, HeaderInfo } from '../channel/layout.js';
import type { ChannelRef } from '../channel/names.js';
import type { MemoryKind } from '../k8s/types.js';
import { ownerProblem } from '../channel/segment-trust.js';
import type { SegmentOwner, SegmentPerms } from '../shm/segment.js';

export type SegmentSettings = Pick<ChannelConfig, 'mode' | 'capacity' | 'maxMessage' | 'slowConsumer'>;

/** The settings a channel's header records. */
export const settingsOf = (header: HeaderInfo): SegmentSettings => ({
  mode: header.mode,
  capacity: header.capacity,
  maxMessage: header.maxMessage,
  slowConsumer: header.slowConsumer,
});

export interface WantedSegment {
  key: number;
  ref: ChannelRef;
  settings: SegmentSettings;
  /** `namespace/name` of the ChannelEndpoint that wants it. */
  endpoint: string;
  memory: MemoryKind;
  /** A hardened System V channel: the segment's creator and owner (the agent's segment owner, the channel's group). */
  owner?: SegmentOwner;
}

export interface PresentSegment {
  key: number;
  /** The System V id; absent for a memory file. */
  shmId?: number;
  /** Processes attached (System V), or pods that have the memory file mounted. */
  attached: number;
  sizeBytes: number;
  ref: ChannelRef;
  settings: SegmentSettings;
  /** A System V segment's creator, owner and mode. */
  perms?: SegmentPerms;
}

export type SegmentAction =
  | { kind: 'create'; want: WantedSegment }
  | { kind: 'remove'; present: PresentSegment; reason: 'orphaned' | 'uninstalling' | 'replaced' | 'untrusted' }
  | { kind: 'mismatch'; want: WantedSegment; present: PresentSegment };

export interface PlanInputs {
  wanted: readonly WantedSegment[];
  present: readonly PresentSegment[];
  /** key → when it was first seen unwanted (ms); the plan returns the next map. */
  unwantedSince: ReadonlyMap<number, number>;
  now: number;
  graceMs: number;
  uninstalling: boolean;
}

export interface Plan {
  actions: SegmentAction[];
  unwantedSince: Map<number, number>;
}

export const sameSettings = (a: SegmentSettings, b: SegmentSettings): boolean =>
  a.mode === b.mode && a.capacity === b.capacity && a.maxMessage === b.maxMessage && a.slowConsumer === b.slowConsumer;

const identity = (ref: ChannelRef) => `${ref.namespace}/${ref.name}@${ref.uid ?? ''}`;

/**
 * The agent's replication thread attaches to a channel without being one of its users, and
 * keeps it open after its pods are gone while it sends and lands what is still in flight:
 * such a segment counts as attached, so it is not removed under the thread.
 * `replicating`: the thread's open channels, as `namespace/name`.
 */
export function withReplicatorUse<P extends PresentSegment>(present: readonly P[], replicating: ReadonlySet<string>): P[] {
  return present.map((p) => (replicating.has(`${p.ref.namespace}/${p.ref.name}`) ? { ...p, attached: p.attached + 1 } : p));
}

export function planSegments(inputs: PlanInputs): Plan {
  const { wanted, present, now, graceMs, uninstalling } = inputs;
  const actions: SegmentAction[] = [];
  const next = new Map<number, number>();
  if (uninstalling) {
    for (const p of present) actions.push({ kind: 'remove', present: p, reason: 'uninstalling' });
    return { actions, unwantedSince: next };
  }
  const wantedByKey = new Map(wanted.map((w) => [w.key, w]));
  const presentByKey = new Map(present.map((p) => [p.key, p]));
  for (const want of wanted) {
    const have = presentByKey.get(want.key);
    if (!have) actions.push({ kind: 'create', want });
    else if (want.owner && have.perms && ownerProblem(have.perms, want.owner) !== undefined)
      actions.push({ kind: 'remove', present: have, reason: 'untrusted' }, { kind: 'create', want });
    else if (identity(have.ref) !== identity(want.ref) || !sameSettings(have.settings, want.settings)) {
      // The channel's settings changed (or another identity holds the key): replace the
      // segment only while nobody uses it; until then clients keep the old settings.
      if (have.attached === 0) actions.push({ kind: 'remove', present: have, reason: 'replaced' }, { kind: 'create', want });
      else actions.push({ kind: 'mismatch', want, present: have });
    }
  }
  for (const p of present) {
    if (wantedByKey.has(p.key)) continue;
    const since = inputs.unwantedSince.get(p.key) ?? now;
    if (p.attached === 0 && now - since >= graceMs) actions.push({ kind: 'remove', present: p, reason: 'orphaned' });
    else next.set(p.key, since);
  }
  return { actions, unwantedSince: next };
}
