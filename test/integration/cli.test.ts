import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, helper, killStarted, ROOT, run, startProgram, testChannels } from '../helpers/proc.js';
import { until, within } from '../helpers/wait.js';
import { Channel } from '../../src/channel/channel.js';

const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

describe('shimmy channel', () => {
  it('creates, lists and removes a channel', async () => {
    const ref = channels.ref('cli');
    const created = await run([
      'channel',
      'create',
      ref.name,
      '--namespace',
      ref.namespace,
      '--capacity',
      '1MiB',
      '--max-message',
      '64KiB',
      '--slow-consumer',
      'overwrite',
    ]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/mode pubsub, key 0x[0-9a-f]{8}, capacity 1MiB, max message 64KiB, slow consumer overwrite/);
    const ls = await run(['channel', 'ls']);
    expect(ls.stdout).toMatch(/NAMESPACE\s+NAME\s+MODE\s+KEY\s+SIZE\s+ATTACHED\s+PUBLISHERS\s+SUBSCRIBERS\s+MESSAGES\s+LAG/);
    expect(ls.stdout).toContain(ref.name);
    expect((await run(['channel', 'create', ref.name, '--namespace', ref.namespace])).stderr).toMatch(/already exists/);
    expect((await run(['channel', 'rm', ref.name, '--namespace', ref.namespace])).code).toBe(0);
    const gone = await run(['channel', 'rm', ref.name, '--namespace', ref.namespace]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/no channel/);
  });

  it('a running subscriber ends with CLOSED when its channel is removed under it (`channel rm`)', async () => {
    const ref = channels.ref('rm-live');
    await run(['channel', 'create', ref.name, '-n', ref.namespace]);
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--quiet']);
    await sub.waitFor(/subscribed/);
    expect((await run(['channel', 'rm', ref.name, '-n', ref.namespace])).code).toBe(0);
    expect(await within(sub.exited, 'the subscriber to stop', 5_000)).toBe(1);
    expect(sub.stderr()).toMatch(new RegExp(`channel ${ref.namespace}/${ref.name} .* was removed at .*\\[SHIMMY_ERR_CLOSED\\]`));
  });

  it('exits non-zero with a one-line reason on bad input', async () => {
    const ref = channels.ref('bad');
    const badSize = await run(['channel', 'create', ref.name, '--capacity', 'huge']);
    expect(badSize.code).not.toBe(0);
    expect(badSize.stderr).toMatch(/Invalid --capacity "huge"/);
    const longName = await run(['channel', 'create', 'x'.repeat(70)]);
    expect(longName.code).toBe(1);
    expect(longName.stderr.trim().split('\n')).toHaveLength(1);
    expect(longName.stderr).toMatch(/70 characters long/);
    const unknown = await run(['sub', 'does-not-exist', '--namespace', 'nowhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No segment .* exists on this host.*shimmy channel create does-not-exist --namespace nowhere/);
    await run(['channel', 'create', ref.name, '-n', ref.namespace, '--capacity', '4KiB', '--max-message', '100']);
    const tooBig = await run(['pub', ref.name, '-n', ref.namespace, 'x'.repeat(101)]);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toMatch(/larger than this channel's maximum of 100 bytes.*SHIMMY_ERR_MESSAGE_TOO_LARGE/);
  });

  it('refuses to replicate without the cluster key, or with one shorter than 32 bytes, before it starts', async () => {
    const agent = ['agent', '--node', 'n1', '--replication-port', '7470', '--replication-address', '10.0.0.1'];
    const noKey = await run(agent);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/--replication-port needs --replication-key-file/);
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-cli-key-'));
    writeFileSync(join(dir, 'key'), 'short\n');
    const short = await run([...agent, '--replication-key-file', join(dir, 'key')]);
    rmSync(dir, { recursive: true, force: true });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/the replication key in .*key has 5 bytes; it needs at least 32/);
  });
});

describe('permissions', () => {
  const root = process.getuid?.() === 0;
  // Running as another user needs root (CI runs as root); elsewhere the skip shows, with its reason.
  it.skipIf(!root)(
    `tells another user whose segment it is and with which permissions${root ? '' : ' [SKIPPED: not root, cannot run as uid 65534]'}`,
    async () => {
      const ref = channels.ref('private');
      expect((await run(['channel', 'create', ref.name, '-n', ref.namespace, '--permissions', '0600'])).code).toBe(0);
      const denied = helper('as-user', ['65534', '65534', 'sub', ref.name, '-n', ref.namespace]);
      expect(await denied.exited).toBe(1);
      expect(denied.stderr()).toMatch(
        /refused: the segment belongs to uid 0 with permissions 0600 and this process runs as uid 65534.*SHIMMY_ERR_PERMISSION_DENIED/,
      );
    },
  );
  it.skipIf(!root)(
    `refuses a world-writable segment that another user made first (a squat), and uses its own${root ? '' : ' [SKIPPED: not root, cannot run as uid 65534]'}`,
    async () => {
      const ref = channels.ref('squat');
      const squat = helper('as-user', ['65534', '65534', 'channel', 'create', ref.name, '-n', ref.namespace, '--permissions', '0666']);
      expect(await squat.exited).toBe(0);
      for (const args of [
        ['channel', 'create', ref.name, '-n', ref.namespace, '--if-absent'],
        ['pub', ref.name, '-n', ref.namespace, 'secret'],
      ]) {
        const victim = await run(args);
        expect(victim.code, args.join(' ')).toBe(1);
        expect(victim.stderr).toMatch(/writable by every user \(mode 0666\) and was made by uid 65534, owned by uid 65534.*SHIMMY_ERR_UNTRUSTED_SEGMENT/);
      }
      // The same mode is fine for the user who made it, and 0660 from another user is a shared group's choice.
      expect((await run(['channel', 'rm', ref.name, '-n', ref.namespace])).code).toBe(0);
      expect((await run(['channel', 'create', ref.name, '-n', ref.namespace, '--permissions', '0666'])).code).toBe(0);
      expect((await run(['pub', ref.name, '-n', ref.namespace, 'mine'])).code).toBe(0);
    },
  );
});

describe('shimmy --help', () => {
  it("loads the control plane's modules only when its commands run, so pub and sub start fast", async () => {
    // Loading them eagerly made every command start ~0.7 s later, enough to break the crash tests.
    const heavy = /node_modules\/(fastify|node-forge|prom-client|autocannon|@kubernetes|pino)\//;
    const probe = `const { buildProgram } = await import(${JSON.stringify(`${ROOT}dist/src/cli/main.js`)}); buildProgram();
      const { createRequire } = await import('node:module');
      console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
    const p = startProgram(process.execPath, ['--input-type=module', '-e', probe]);
    expect(await p.exited).toBe(0);
    const loaded = JSON.parse(p.stdout()) as string[];
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((m) => heavy.test(m))).toEqual([]);
  });

  it('answers for every command', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of ['channel', 'pub', 'sub', 'request', 'reply', 'bench', 'demo', 'controller', 'dev-cluster', 'manifests', 'bench-control-plane'])
      expect(top.stdout).toContain(cmd);
    const controller = await run(['controller', '--help']);
    expect(controller.stdout).toMatch(/--webhook-port <port>[\s\S]*--cert-validity <duration>[\s\S]*\(default: 30d\)/);
    const up = await run(['dev-cluster', 'up', '--help']);
    expect(up.stdout).toMatch(/--nodes <n>[\s\S]*--no-controller/);
    const bench = await run(['bench', '--help']);
    expect(bench.stdout).toMatch(/--transports <list>[\s\S]*bench\/peers\/setup\.sh/);
    const create = await run(['channel', 'create', '--help']);
    expect(create.stdout).toMatch(/--slow-consumer <policy>/);
  });
});

describe('shimmy pub and sub', () => {
  it('carries stdin lines, in order, to a subscriber', async () => {
    const ref = channels.ref('lines');
    await run(['channel', 'create', ref.name, '-n', ref.namespace]);
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--count', '3']);
    await sub.waitFor(/subscribed/);
    expect((await run(['pub', ref.name, '-n', ref.namespace], 'alpha\nbeta\ngamma\n')).code).toBe(0);
    expect(await sub.exited).toBe(0);
    expect(sub.stdout()).toBe('alpha\nbeta\ngamma\n');
  });

  it('verifies sequence numbers from several publisher processes at once', async () => {
    const ref = channels.ref('multi');
    expect((await run(['channel', 'create', ref.name, '-n', ref.namespace, '--capacity', '256KiB'])).stderr).toMatch(/--max-message up to 131064/);
    expect((await run(['channel', 'create', ref.name, '-n', ref.namespace, '--capacity', '256KiB', '--max-message', '1KiB'])).code).toBe(0);
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--count', '60000', '--verify', '--json', '--quiet']);
    await sub.waitFor(/subscribed/);
    const pubs = [0, 1, 2].map(() => run(['pub', ref.name, '-n', ref.namespace, '--count', '20000', '--size', '100', '--seq']));
    for (const p of await Promise.all(pubs)) expect(p.code).toBe(0);
    // Each publisher's sequence is checked on its own: interleaved, they are all in order.
    expect(await sub.exited).toBe(0);
    expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: 60000, bytes: 60000 * 100, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0, publishers: 3 });
  });

  it('paces with --rate', async () => {
    const ref = channels.ref('rate');
    await run(['channel', 'create', ref.name, '-n', ref.namespace]);
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--count', '50', '--json', '--quiet']);
    await sub.waitFor(/subscribed/);
    const started = Date.now();
    const pub = await run(['pub', ref.name, '-n', ref.namespace, '--count', '50', '--rate', '100']);
    const wall = Date.now() - started;
    expect(pub.code).toBe(0);
    // 50 messages at 100/s: the last leaves 490 ms after the first. pub reports the time it
    // spent publishing (start-up excluded): at least that, and at most 3x that.
    const paced = Number(/published 50 messages .* in ([\d.]+) s/.exec(pub.stderr)?.[1]) * 1000;
    expect(paced).toBeGreaterThanOrEqual(450);
    expect(paced).toBeLessThan(3 * 490);
    expect(wall).toBeGreaterThanOrEqual(450);
    expect(await within(sub.exited, 'the subscriber to exit')).toBe(0);
    const s = JSON.parse(sub.stdout().trim());
    expect(s.received).toBe(50);
    // The subscriber saw them spread out the same way: first to last within 3x of 490 ms.
    expect(s.seconds * 1000).toBeLessThan(3 * 490);
  });

  for (const how of ['--count', 'stdin'] as const) {
    it(`ends on SIGTERM while waiting for room that a subscriber never makes (${how})`, async () => {
      const ref = channels.ref('stuck');
      await run(['channel', 'create', ref.name, '-n', ref.namespace, '--capacity', '64KiB', '--max-message', '1KiB']);
      const idle = helper('idle-subscriber', [ref.namespace, ref.name]);
      await idle.waitFor(/subscribed/);
      const args = ['pub', ref.name, '-n', ref.namespace, ...(how === '--count' ? ['--count', '1000000', '--size', '512'] : [])];
      const pub = cli(args, how === 'stdin' ? `${'x'.repeat(500)}\n`.repeat(1000) : undefined);
      // The 64 KiB ring fills within milliseconds; then pub waits for room.
      const observer = Channel.open(ref);
      await until(() => observer.stats().messages > 100, 'the ring to fill');
      observer.close();
      expect(pub.child.exitCode).toBeNull();
      pub.child.kill('SIGTERM');
      expect(await within(pub.exited, 'pub to exit on SIGTERM', 5000)).toBe(0);
      expect(pub.stderr()).toMatch(/published \d+ messages/);
    });
  }
});

describe('stream channels across processes', () => {
  it('give each message to exactly one of two consumer processes, and both take some', async () => {
    const ref = channels.ref('jobs');
    await run(['channel', 'create', ref.name, '-n', ref.namespace, '--mode', 'stream']);
    const consumers = [helper('stream-consumer', [ref.namespace, ref.name, 'b', '2000']), helper('stream-consumer', [ref.namespace, ref.name, 'b', '2000'])];
    await Promise.all(consumers.map((c) => c.waitFor(/consuming/)));
    const { openChannel } = await import('../../src/client/open.js');
    const ch = openChannel(ref);
    const a = ch.stream('a');
    for (let i = 0; i < 2000; i++) if (!a.write(`job-${i}`)) await new Promise((r) => a.once('drain', r));
    const exits = await within(Promise.all(consumers.map((c) => c.exited)), 'both consumers to exit', 60_000).catch((err: Error) => {
      throw new Error(
        `${err.message}; ${consumers.map((c, i) => `consumer ${i}: stdout ${c.stdout().slice(-200)} stderr ${c.stderr().slice(-400)}`).join('; ')}`,
      );
    });
    for (const code of exits) expect(code).toBe(0);
    const taken = consumers.map((c) => JSON.parse(c.stdout().trim().split('\n').at(-1)!) as string[]);
    // Exactly once overall: every job, none twice.
    expect(taken.flat().sort()).toEqual(Array.from({ length: 2000 }, (_, i) => `job-${i}`).sort());
    // And both consumers took part.
    for (const mine of taken) expect(mine.length).toBeGreaterThan(0);
    ch.close();
  });
});

describe('shimmy request and reply', () => {
  it('answers each of 10,000 requests exactly once between two repliers, and ends a request nobody answers with SHIMMY_ERR_TIMEOUT', async () => {
    const ref = channels.ref('rr');
    await run(['channel', 'create', ref.name, '-n', ref.namespace, '--mode', 'stream']);
    const repliers = ['r1', 'r2'].map((as) => cli(['reply', ref.name, '-n', ref.namespace, '--as', as, '--json']));
    for (const r of repliers) await r.waitFor(/answering requests/);
    const asked = await run(['request', ref.name, '-n', ref.namespace, '--count', '10000', '--timeout', '60s', '--json']);
    expect(asked.code, asked.stderr).toBe(0);
    const seen = JSON.parse(asked.stdout.trim()) as { answers: number; twice: number; unknown: number; byReplier: Record<string, number> };
    expect(seen).toMatchObject({ answers: 10_000, twice: 0, unknown: 0 });
    for (const r of repliers) r.child.kill('SIGTERM');
    const answered = await Promise.all(repliers.map(async (r) => (expect(await r.exited).toBe(0), JSON.parse(r.stdout().trim()).answered as number)));
    expect(answered).toEqual([seen.byReplier.r1 ?? 0, seen.byReplier.r2 ?? 0]);
    expect(answered[0]! + answered[1]!).toBe(10_000);

    const alone = await run(['request', ref.name, '-n', ref.namespace, '--count', '3', '--timeout', '500ms']);
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toMatch(/Timed out with 0 of 3 requests answered \(3 sent\).*\[SHIMMY_ERR_TIMEOUT\]/);
  });
});
