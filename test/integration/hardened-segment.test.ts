/**
 * Hardened memory: HostIPC segments on this host, as the node agent makes them (it runs as
 * root here): creator and owner are the segment owner uid and the channel's group, mode 0660.
 * The kernel then lets in the channel's group and nobody else, root without CAP_IPC_OWNER
 * included, where a segment made by root lets in every root process (the creator matches).
 * A squat under the channel's key, Shimmy-shaped or not, is replaced by the agent and
 * refused by clients that know the owner.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { channelKey } from '../../src/channel/names.js';
import { createSegment } from '../../src/agent/node-segments.js';
import { ErrorCode } from '../../src/errors.js';
import { Segment, type SegmentOwner } from '../../src/shm/segment.js';
import { thrown } from '../helpers/errors.js';
import { CLI, ROOT, helper, killStarted, startProgram, testChannels } from '../helpers/proc.js';

const OWNER: SegmentOwner = { uid: 64500, gid: 64601 };
const TENANT = 10001;
const settings = { mode: 'pubsub' as const, capacity: 65536, maxMessage: 1024, slowConsumer: 'block' as const };
const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

const statOf = (key: number) => Segment.stat({ key, label: 'test' }, Segment.lookup(key)!);

/**
 * Runs the CLI as uid/gid (as-user loads it as root first: a clone under `mktemp -d` is not
 * readable by other users), or as root without capabilities; resolves to exit code and output.
 */
async function runAs(args: string[], who: { uid: number; gid: number } | { rootWithoutCapabilities: true }) {
  const p =
    'rootWithoutCapabilities' in who
      ? startProgram('setpriv', ['--reuid=0', '--regid=0', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, CLI, ...args])
      : helper('as-user', [String(who.uid), String(who.gid), ...args]);
  const code = await p.exited;
  return { code, out: p.stdout() + p.stderr() };
}

const attach = (ref: { namespace: string; name: string }) => ['pub', ref.name, '--namespace', ref.namespace, 'hello'];

describe('hardened HostIPC segments', () => {
  it("are made by the segment owner with the channel's group, creator included, and mode 0660", async () => {
    const ref = channels.ref('owned');
    expect(await createSegment(ref, settings, 0o666, OWNER)).toEqual({ replaced: false });
    const info = statOf(channelKey(ref));
    expect(info).toMatchObject({ uid: OWNER.uid, creatorUid: OWNER.uid, gid: OWNER.gid, creatorGid: OWNER.gid, mode: 0o660 });
    // The agent (root, CAP_IPC_OWNER) still reads it, and this thread is root again.
    expect(Channel.open(ref, { owner: OWNER }).stats().publishers).toBe(0);
    expect(process.geteuid?.()).toBe(0);
    expect(process.getegid?.()).toBe(0);
  });

  it("let in the channel's group only: not another uid, not root without CAP_IPC_OWNER (who can open a root-made one)", async () => {
    const ref = channels.ref('who');
    await createSegment(ref, settings, 0o660, OWNER);
    expect((await runAs(attach(ref), { uid: TENANT, gid: OWNER.gid })).code).toBe(0);
    const stranger = await runAs(attach(ref), { uid: TENANT, gid: TENANT });
    expect(stranger.code).not.toBe(0);
    expect(stranger.out).toMatch(/PERMISSION_DENIED|was refused/);
    const root = await runAs(attach(ref), { rootWithoutCapabilities: true });
    expect(root.code).not.toBe(0);
    expect(root.out).toMatch(/PERMISSION_DENIED|was refused/);

    // The same root process opens a segment that root made: why the agent never makes one as root.
    const rootMade = channels.ref('root-made');
    Channel.create(rootMade, settings).close();
    expect((await runAs(attach(rootMade), { rootWithoutCapabilities: true })).code).toBe(0);
  });

  it("replace a Shimmy-shaped squat and a foreign segment under the channel's key; clients that know the owner refuse both", async () => {
    const ref = channels.ref('squat');
    const made = await runAs(['channel', 'create', ref.name, '--namespace', ref.namespace, '--permissions', '0666'], { uid: TENANT, gid: TENANT });
    expect(made.code, made.out).toBe(0);
    expect(thrown(() => Channel.open(ref, { owner: OWNER })).code).toBe(ErrorCode.UNTRUSTED_SEGMENT);
    expect(await createSegment(ref, settings, 0o660, OWNER)).toEqual({ replaced: true });
    expect(statOf(channelKey(ref))).toMatchObject({ creatorUid: OWNER.uid, gid: OWNER.gid, mode: 0o660 });
    Channel.open(ref, { owner: OWNER }).close();

    const foreign = channels.ref('foreign');
    const key = channelKey(foreign);
    // Loaded as root, then as the tenant (the checkout may not be readable by it).
    const script = `const n = await import(${JSON.stringify(`${ROOT}dist/src/shm/native.js`)});
      process.setgroups([]); process.setgid(${TENANT}); process.setuid(${TENANT});
      const id = n.shmget(${key}, 4096, 0o1000 | 0o2000 | 0o666); process.exit(id < 0 ? 1 : 0);`;
    const raw = startProgram(process.execPath, ['--input-type=module', '-e', script]);
    expect(await raw.exited).toBe(0);
    expect(statOf(key).creatorUid).toBe(TENANT);
    expect(await createSegment(foreign, settings, 0o660, OWNER)).toEqual({ replaced: true });
    expect(statOf(key)).toMatchObject({ creatorUid: OWNER.uid, creatorGid: OWNER.gid });
  });

  it('are left alone when they are already the agent’s (a second create fails as SEGMENT_EXISTS)', async () => {
    const ref = channels.ref('twice');
    await createSegment(ref, settings, 0o660, OWNER);
    const err = await createSegment(ref, settings, 0o660, OWNER).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe(ErrorCode.SEGMENT_EXISTS);
  });

  it('keep a client that waits for its segment waiting through a squat until the agent replaces it, and name the squat if it stays', async () => {
    const ref = channels.ref('wait');
    Channel.create(ref, settings).close();
    const hint = 'the agent makes it';
    const stays = await Channel.openWhenPresent(ref, { owner: OWNER, timeoutMs: 400, hint }).catch((e: unknown) => e);
    expect((stays as { code?: string }).code).toBe(ErrorCode.UNTRUSTED_SEGMENT);
    const waiting = Channel.openWhenPresent(ref, { owner: OWNER, timeoutMs: 10_000, hint });
    await new Promise((r) => setTimeout(r, 300));
    expect(await createSegment(ref, settings, 0o660, OWNER)).toEqual({ replaced: true });
    const ch = await waiting;
    expect(ch.stats().publishers).toBe(0);
    ch.close();
  });
});

describe('an agent without CAP_SETUID and CAP_SETGID', () => {
  it('is told which capabilities making a hardened segment needs', async () => {
    const ref = channels.ref('nocaps');
    const script = `const { createSegment } = await import(${JSON.stringify(`${ROOT}dist/src/agent/node-segments.js`)});
      try { await createSegment(${JSON.stringify(ref)}, ${JSON.stringify(settings)}, 0o660, ${JSON.stringify(OWNER)}); console.log('made'); }
      catch (e) { console.log(e.code, e.message); }`;
    const p = startProgram('setpriv', ['--inh-caps=-all', '--bounding-set=-setuid,-setgid', process.execPath, '--input-type=module', '-e', script]);
    await p.exited;
    expect(p.stdout()).toMatch(/PERMISSION_DENIED .*as uid 64500 and gid 64601 was refused: this process lacks CAP_SETUID or CAP_SETGID/);
    expect(Segment.lookup(channelKey(ref))).toBeNull();
  });
});
