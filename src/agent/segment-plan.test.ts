import { describe, expect, it } from 'vitest';
import { planSegments, withReplicatorUse, type PresentSegment, type WantedSegment } from './segment-plan.js';

const settings = { mode: 'pubsub' as const, capacity: 65536, maxMessage: 1024, slowConsumer: 'block' as const };
const ref = (name: string, uid = `uid-${name}`) => ({ namespace: 'demo', name, uid });
const want = (key: number, name: string, over: Partial<typeof settings> = {}): WantedSegment => ({
  key,
  ref: ref(name),
  settings: { ...settings, ...over },
  endpoint: `demo/${name}.node-1`,
  memory: 'HostIPC',
});
const have = (key: number, name: string, attached: number, over: Partial<typeof settings> = {}): PresentSegment => ({
  key,
  shmId: key * 10,
  attached,
  sizeBytes: 1 << 17,
  ref: ref(name),
  settings: { ...settings, ...over },
});
const plan = (inputs: Partial<Parameters<typeof planSegments>[0]>) =>
  planSegments({ wanted: [], present: [], unwantedSince: new Map(), now: 100_000, graceMs: 30_000, uninstalling: false, ...inputs });
const kinds = (p: ReturnType<typeof planSegments>) =>
  p.actions.map((a) => (a.kind === 'remove' ? `remove ${a.present.key} ${a.reason}` : `${a.kind} ${a.want.key}`));

describe('planSegments', () => {
  it('creates what is wanted and absent, and leaves what is wanted and present', () => {
    expect(kinds(plan({ wanted: [want(1, 'a'), want(2, 'b')], present: [have(2, 'b', 3)] }))).toEqual(['create 1']);
  });

  it('removes an unwanted segment only after the grace period and only with nothing attached', () => {
    const first = plan({ present: [have(1, 'a', 0), have(2, 'b', 2)] });
    expect(kinds(first)).toEqual([]);
    expect([...first.unwantedSince]).toEqual([
      [1, 100_000],
      [2, 100_000],
    ]);
    const early = plan({ present: [have(1, 'a', 0), have(2, 'b', 2)], unwantedSince: first.unwantedSince, now: 129_999 });
    expect(kinds(early)).toEqual([]);
    const late = plan({ present: [have(1, 'a', 0), have(2, 'b', 2)], unwantedSince: first.unwantedSince, now: 130_000 });
    expect(kinds(late)).toEqual(['remove 1 orphaned']);
    // Still attached: kept, and still counted from when it became unwanted.
    expect(late.unwantedSince.get(2)).toBe(100_000);
    expect(late.unwantedSince.has(1)).toBe(false);
  });

  it('keeps an orphan the replication thread still has open (it drains what is in flight), and removes it once the thread let go', () => {
    const present = [have(1, 'a', 0), have(2, 'b', 0)];
    const unwantedSince = new Map([
      [1, 0],
      [2, 0],
    ]);
    expect(kinds(plan({ present: withReplicatorUse(present, new Set(['demo/a'])), unwantedSince }))).toEqual(['remove 2 orphaned']);
    expect(kinds(plan({ present: withReplicatorUse(present, new Set()), unwantedSince }))).toEqual(['remove 1 orphaned', 'remove 2 orphaned']);
  });

  it('forgets the grace clock of a segment that is wanted again', () => {
    const p = plan({ wanted: [want(1, 'a')], present: [have(1, 'a', 0)], unwantedSince: new Map([[1, 0]]) });
    expect(kinds(p)).toEqual([]);
    expect(p.unwantedSince.size).toBe(0);
  });

  it('after a restart (no clock), adopts what exists and waits a full grace period before removing an orphan', () => {
    const p = plan({ wanted: [want(1, 'a')], present: [have(1, 'a', 0), have(2, 'orphan', 0)], now: 5 });
    expect(kinds(p)).toEqual([]);
    expect(p.unwantedSince.get(2)).toBe(5);
  });

  it('replaces a segment whose settings changed once nobody is attached, and reports the mismatch until then', () => {
    const changed = want(1, 'a', { capacity: 131072 });
    expect(kinds(plan({ wanted: [changed], present: [have(1, 'a', 0)] }))).toEqual(['remove 1 replaced', 'create 1']);
    expect(kinds(plan({ wanted: [changed], present: [have(1, 'a', 1)] }))).toEqual(['mismatch 1']);
    // Another identity under the same key (a hash collision or a recreated channel) is a mismatch too.
    const other = { ...have(1, 'a', 1), ref: ref('a', 'older-uid') };
    expect(kinds(plan({ wanted: [want(1, 'a')], present: [other] }))).toEqual(['mismatch 1']);
  });

  it('when uninstalling, removes every segment, attached or not, and creates nothing', () => {
    const p = plan({ wanted: [want(1, 'a'), want(3, 'c')], present: [have(1, 'a', 4), have(2, 'b', 0)], uninstalling: true });
    expect(kinds(p)).toEqual(['remove 1 uninstalling', 'remove 2 uninstalling']);
  });

  it("replaces a hardened channel's segment at once when the agent did not make it (a squat), attached or not, and keeps its own", () => {
    const owner = { uid: 64500, gid: 64601 };
    const mine = { uid: 64500, creatorUid: 64500, gid: 64601, creatorGid: 64601, mode: 0o660 };
    const hardened = { ...want(1, 'a'), owner };
    expect(kinds(plan({ wanted: [hardened], present: [{ ...have(1, 'a', 2), perms: mine }] }))).toEqual([]);
    expect(kinds(plan({ wanted: [hardened], present: [{ ...have(1, 'a', 2), perms: { ...mine, creatorUid: 10001, uid: 10001, mode: 0o666 } }] }))).toEqual([
      'remove 1 untrusted',
      'create 1',
    ]);
    expect(kinds(plan({ wanted: [hardened], present: [{ ...have(1, 'a', 0), perms: { ...mine, creatorGid: 0 } }] }))).toEqual([
      'remove 1 untrusted',
      'create 1',
    ]);
    // Without an owner (hardening off) the same segment is kept.
    expect(kinds(plan({ wanted: [want(1, 'a')], present: [{ ...have(1, 'a', 2), perms: { ...mine, creatorUid: 10001 } }] }))).toEqual([]);
  });
});
