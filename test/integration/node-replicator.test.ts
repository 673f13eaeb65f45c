/**
 * Two nodes' replicators (src/replication/node-replicator.ts, what the agents run) for one
 * channel, on two hosts (network namespaces joined by a veth pair), each host's channel
 * in a memory file of its own, over UCX's TCP transport on the veth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHostPair, type HostPair, type Side } from '../../src/replication/host-pair.js';
import type { ReplicatorReport } from '../../src/replication/node-replicator.js';
import type { RequestSummary } from '../../src/cli/stream-commands.js';
import { CLI, HELPERS, killStarted, type Proc } from '../helpers/proc.js';
import { channelOnBothHosts } from '../helpers/two-host-channel.js';
import { until } from '../helpers/wait.js';
import { Channel } from '../../src/channel/channel.js';
import { RingWord } from '../../src/channel/layout.js';

const PORT = 7470;
/** The cluster's replication key, shared by both replicators. */
const REPLICATION_KEY = randomBytes(32).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pair: HostPair;

beforeAll(() => {
  pair = createHostPair(process.pid);
});

afterAll(() => {
  killStarted();
  pair?.remove();
});

function replicatedOnBothHosts(prefix: string, maxMessage: number, capacity = 1024 * 1024, mode: 'pubsub' | 'stream' = 'pubsub') {
  const { ref, config, files, on, close } = channelOnBothHosts(pair, prefix, { capacity, maxMessage }, mode);
  const other: Record<Side, Side> = { a: 'b', b: 'a' };
  // Each host's spool directory beside its channel's file, as the chart keeps it on the node.
  const spoolDir = (side: Side) => join(dirname(files[side]), 'spool');
  const replicator = (side: Side, extraEnv: Record<string, string> = {}) =>
    on(
      side,
      `${HELPERS}/node-replicator.js`,
      [
        `node-${side}`,
        files[side],
        ref.namespace,
        ref.name,
        String(maxMessage),
        String(config.capacity),
        pair.address[side],
        String(PORT),
        `node-${other[side]}`,
        pair.address[other[side]],
        String(PORT),
      ],
      { REPLICATION_KEY, MODE: mode, SPOOL_DIR: spoolDir(side), ...extraEnv },
    );
  return { ref, files, on, replicator, close, spoolDir };
}

const reportOf = (text: string) => JSON.parse(text.trim().split('\n').pop()!) as ReplicatorReport;

/** A publisher on A, a subscriber on A and two on B, replicators on both; `during` runs once the publisher started. */
async function publishAcross(
  prefix: string,
  n: number,
  size: number,
  pubExtra: string[],
  during: (onB: {
    stopSubscriber: () => void;
    continueSubscriber: () => void;
    publisherDone: Promise<unknown>;
    unwant: () => void;
    connected: () => Promise<unknown>;
    /** Kills a host's replicator with SIGKILL and starts another there (the final report is the new one's). */
    killAndRestart: (side: Side) => Promise<void>;
    on: ReturnType<typeof replicatedOnBothHosts>['on'];
  }) => Promise<void>,
  replicatorEnv: Record<string, string> = {},
  beforeStop: (replicators: Record<Side, Proc>) => Promise<unknown> = async () => {},
) {
  const { ref, on, replicator, close, spoolDir } = replicatedOnBothHosts(prefix, Math.max(size, 1024));
  let replicators: Record<Side, Proc> | undefined;
  try {
    const subArgs = ['sub', ref.name, '--count', String(n), '--verify', '--json', '--quiet'];
    const subs = [on('a', CLI, subArgs), on('b', CLI, subArgs), on('b', CLI, subArgs)];
    for (const sub of subs) await sub.waitFor(/subscribed/);
    replicators = { a: replicator('a', replicatorEnv), b: replicator('b', replicatorEnv) };
    for (const r of Object.values(replicators)) await r.waitFor(/listening \d+/);
    // A's subscriber and A's replicator (the one that forwards to B).
    const pub = on('a', CLI, [
      'pub',
      ref.name,
      '--count',
      String(n),
      '--size',
      String(size),
      '--seq',
      '--wait-subscribers',
      '2',
      '--timeout',
      '120s',
      ...pubExtra,
    ]);
    await during({
      stopSubscriber: () => subs[1]!.child.kill('SIGSTOP'),
      continueSubscriber: () => subs[1]!.child.kill('SIGCONT'),
      publisherDone: pub.exited,
      unwant: () => Object.values(replicators!).forEach((r) => r.child.kill('SIGUSR2')),
      on,
      connected: () => Promise.all(Object.values(replicators!).map((r) => r.waitFor(/"msg":"peer connected"/))),
      killAndRestart: async (side) => {
        replicators![side].child.kill('SIGKILL');
        await replicators![side].exited;
        replicators![side] = replicator(side, replicatorEnv);
        await replicators![side].waitFor(/listening \d+/);
      },
    });
    expect(await pub.exited, pub.stderr()).toBe(0);
    for (const sub of subs) {
      expect(await sub.exited, sub.stderr()).toBe(0);
      expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: n, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
    }
    await beforeStop(replicators);
    for (const r of Object.values(replicators)) r.child.kill('SIGTERM');
    for (const r of Object.values(replicators)) expect(await r.exited, r.stderr()).toBe(0);
    // What the replicators left for the next ones.
    const spools = (['a', 'b'] as const).flatMap((side) => (existsSync(spoolDir(side)) ? readdirSync(spoolDir(side)).map((f) => `${side}/${f}`) : []));
    return {
      a: reportOf(replicators.a.stdout()),
      b: reportOf(replicators.b.stdout()),
      logs: { a: replicators.a.stderr(), b: replicators.b.stderr() },
      spools,
    };
  } finally {
    // A failed test leaves no replicator holding the port.
    for (const r of Object.values(replicators ?? {})) r.child.kill('SIGKILL');
    close();
  }
}

describe("two nodes' replicators of a pub/sub channel", () => {
  it("get a publisher's 200,000 sequenced messages to one subscriber on its host and two on the other, exactly, and send nothing back", async () => {
    const n = 200_000;
    const { a, b, spools } = await publishAcross('nr', n, 64, [], async () => {});
    const id = Object.keys(a.channels)[0]!;
    expect(a.channels[id]).toEqual([expect.objectContaining({ peer: 'node-b', forwarded: n, landed: 0, resent: 0 })]);
    expect(b.channels[id]).toEqual([expect.objectContaining({ peer: 'node-a', forwarded: 0, landed: n, repeats: 0 })]);
    expect(a.links).toEqual([expect.objectContaining({ node: 'node-b', state: 'Connected', transport: `tcp/${pair.veth.a}`, reconnects: 0 })]);
    // Stopped while the channel is still wanted: each host's spool stays for its next agent.
    expect(spools).toEqual([`a/repl_${id.split('/')[1]}.spool`, `b/repl_${id.split('/')[1]}.spool`]);
  });

  it('carries 1,000 sequenced 100 KB messages exactly, by rendezvous (the threshold an RDMA device gets) and eagerly (TCP)', async () => {
    for (const threshold of ['65k', 'inf']) {
      const { b } = await publishAcross(`nr-big-${threshold}`, 1_000, 100 * 1024, [], async () => {}, { UCX_RNDV_THRESH: threshold });
      expect(Object.values(b.channels)[0]).toEqual([expect.objectContaining({ landed: 1_000, repeats: 0 })]);
    }
  });

  it('sends and lands what is in flight before letting go of a channel no longer wanted on either node (its pods there ended)', async () => {
    const n = 200_000;
    const { a, b, logs, spools } = await publishAcross(
      'nr-drain',
      n,
      64,
      [],
      async (on) => {
        await on.publisherDone;
        on.unwant();
      },
      {},
      (replicators) => Promise.all(Object.values(replicators).map((r) => r.waitFor(/"msg":"channel no longer replicated"/, 15_000))),
    );
    expect(logs.a).toMatch(/sending and landing what is in flight first/);
    expect(logs.a).toMatch(/"msg":"channel no longer replicated"/);
    expect(logs.b).toMatch(/"msg":"channel no longer replicated"/);
    // Let go: the reports no longer list the channel.
    expect([a.channels, b.channels]).toEqual([{}, {}]);
    // Their last counters stay in the report: nothing goes uncounted.
    expect(Object.values(a.finished)).toEqual([[expect.objectContaining({ forwarded: n })]]);
    expect(Object.values(b.finished)).toEqual([[expect.objectContaining({ landed: n })]]);
    // Nor does the next agent send it: the spools go with it.
    expect(spools).toEqual([]);
  });

  it("stays exact through B's link going down for 2 s amid 100 KB frames, receives timing out after 500 ms (a frame cut off mid-transfer is asked for again)", async () => {
    const n = 3_000;
    const { b, logs } = await publishAcross(
      'nr-lost',
      n,
      100 * 1024,
      ['--rate', '1000'],
      async () => {
        await sleep(1500);
        execFileSync('ip', ['-n', pair.hosts.b, 'link', 'set', pair.veth.b, 'down']);
        await sleep(2000);
        execFileSync('ip', ['-n', pair.hosts.b, 'link', 'set', pair.veth.b, 'up']);
      },
      // By rendezvous, as with an RDMA device, so a frame can be cut off mid-transfer.
      { SEND_TIMEOUT_MS: '500', UCX_RNDV_THRESH: '65k' },
    );
    // Whether a transfer was cut depends on timing; the request itself is unit-tested (node-replicator.test.ts).
    expect(Object.values(b.channels)[0]![0]!, logs.b).toMatchObject({ landed: n, skipped: 0 });
  });

  it('connects again after every connection of B is reset mid-stream, and resends what B did not acknowledge: exact, nothing twice', async () => {
    const n = 40_000;
    const { a, b, logs } = await publishAcross('nr-cut', n, 256, ['--rate', '10000'], async (onB) => {
      // Under load a replicator may connect late; a reset before that would cut nothing of A's.
      await onB.connected();
      await sleep(1500);
      // A stopped subscriber on B fills B's ring, so B lands and acknowledges nothing more and
      // A holds frames B has not acknowledged when the link is cut.
      onB.stopSubscriber();
      await sleep(1000);
      // A cut link as a middlebox or a dying host makes it: every TCP connection of B reset at once.
      execFileSync('ip', ['netns', 'exec', pair.hosts.b, 'ss', '-K', 'state', 'established']);
      // A connects again and resends before B lands anything more: B then gets those frames twice.
      await sleep(2000);
      onB.continueSubscriber();
    });
    const id = Object.keys(a.channels)[0]!;
    expect(a.links[0]!.reconnects, logs.a).toBeGreaterThanOrEqual(1);
    expect(b.links[0]!.reconnects, logs.b).toBeGreaterThanOrEqual(1);
    expect(a.channels[id]![0]).toMatchObject({ forwarded: n });
    expect(a.channels[id]![0]!.resent, logs.a).toBeGreaterThan(0);
    expect(b.channels[id]![0]).toMatchObject({ landed: n });
    expect(b.channels[id]![0]!.repeats, logs.b).toBeGreaterThan(0);
    expect(logs.a).toMatch(/link to peer lost/);
  });

  it("goes on exactly after B's replicator is killed with SIGKILL while B's ring is full: the next one adopts what it landed, and the dead one's place in the ring holds nothing back", async () => {
    const n = 40_000;
    const { a, b, logs } = await publishAcross('nr-kill', n, 256, ['--rate', '10000'], async (onB) => {
      await onB.connected();
      await sleep(1500);
      // A stopped subscriber on B fills B's ring, so A holds frames B has not acknowledged when B is killed.
      onB.stopSubscriber();
      await sleep(1000);
      await onB.killAndRestart('b');
      // A resends what B did not acknowledge; the new B drops any the killed one had landed (unit-tested: node-replicator.test.ts).
      await sleep(1000);
      onB.continueSubscriber();
    });
    const id = Object.keys(a.channels)[0]!;
    expect(a.channels[id]![0]).toMatchObject({ forwarded: n });
    expect(a.channels[id]![0]!.resent, logs.a).toBeGreaterThan(0);
    // The new B went on from the killed one's state.
    expect(b.channels[id]![0], logs.b).toMatchObject({ resumes: 1, skipped: 0 });
    expect(b.channels[id]![0]!.landed, logs.b).toBeLessThan(n);
    expect(logs.b).toMatch(/going on from what an earlier agent landed from the peer/);
  });

  it("goes on exactly after A's (the sending) replicator is killed with SIGKILL while B has not acknowledged its frames: the next one sends them again from the spool, under the same epoch", async () => {
    const n = 40_000;
    const { a, b, logs } = await publishAcross('nr-kill-a', n, 256, ['--rate', '10000'], async (onB) => {
      await onB.connected();
      await sleep(1500);
      // B's ring fills behind a stopped subscriber, so B lands and acknowledges nothing more while A frames on.
      onB.stopSubscriber();
      await sleep(1000);
      await onB.killAndRestart('a');
      await sleep(1000);
      onB.continueSubscriber();
    });
    const id = Object.keys(a.channels)[0]!;
    // The new A sent again what the killed one had framed and B had not acknowledged.
    expect(a.channels[id]![0]!.recovered, logs.a).toBeGreaterThan(0);
    expect(logs.a).toMatch(/going on from the spool an earlier agent left/);
    // B saw one sender throughout (no new epoch), and landed each message once.
    expect(b.channels[id]![0], logs.b).toMatchObject({ landed: n, restarts: 0, skipped: 0 });
  });

  it('does not deadlock when both nodes publish at full speed into a small ring: every subscriber gets both publishers exactly', async () => {
    const n = 100_000;
    const { ref, on, replicator, close } = replicatedOnBothHosts('nr-both', 1024, 64 * 1024);
    const replicators = { a: replicator('a'), b: replicator('b') };
    try {
      const subArgs = ['sub', ref.name, '--count', String(2 * n), '--verify', '--json', '--quiet'];
      const subs = [on('a', CLI, subArgs), on('b', CLI, subArgs)];
      for (const sub of subs) await sub.waitFor(/subscribed/);
      for (const r of Object.values(replicators)) await r.waitFor(/listening \d+/);
      await Promise.all(Object.values(replicators).map((r) => r.waitFor(/"msg":"peer connected"/)));
      const pubArgs = ['pub', ref.name, '--count', String(n), '--size', '64', '--seq', '--wait-subscribers', '2', '--timeout', '60s'];
      const pubs = [on('a', CLI, pubArgs), on('b', CLI, pubArgs)];
      for (const pub of pubs) expect(await pub.exited, pub.stderr()).toBe(0);
      for (const sub of subs) {
        expect(await sub.exited, sub.stderr()).toBe(0);
        expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: 2 * n, publishers: 2, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
      }
    } finally {
      for (const r of Object.values(replicators)) r.child.kill('SIGKILL');
      close();
    }
  }, 60_000);

  it("lands nothing a process without the cluster's key sends to B's port as node A (frames and acknowledgements under another key or none, too-long frames): B's subscribers stay exact, and B counts it", async () => {
    const n = 50_000;
    const forged = 200;
    const { b, logs } = await publishAcross('nr-intruder', n, 64, ['--rate', '20000'], async (on) => {
      await on.connected();
      // On A's host, so it comes from A's address: only the key tells it from A's replicator.
      const intruder = on.on('a', `${HELPERS}/replication-intruder.js`, [
        pair.address.b,
        String(PORT),
        'repl',
        `nr-intruder-${process.pid}`,
        'node-a',
        String(forged),
      ]);
      try {
        await intruder.waitFor(/sent \d+/, 60_000);
      } finally {
        intruder.child.kill('SIGTERM');
      }
    });
    const counters = Object.values(b.channels)[0]![0]!;
    // A key of its own: frames, acknowledgements, too-long frames; no key: frames, acknowledgements.
    expect(counters, logs.b).toMatchObject({ landed: n, repeats: 0, rejected: forged * 5 });
    expect(logs.b).toMatch(/dropped a message under a peer's tags that is not the peer's.*without a valid MAC/);
  });

  it('drops a peer gone for good after the peer timeout, so the publisher is no longer held back, and says so', async () => {
    const n = 30_000;
    const { ref, on, replicator, close } = replicatedOnBothHosts('nr-gone', 1024);
    const env = { PEER_TIMEOUT_MS: '2000' };
    const replicators = { a: replicator('a', env), b: replicator('b', env) };
    try {
      const sub = on('a', CLI, ['sub', ref.name, '--count', String(n), '--verify', '--json', '--quiet']);
      await sub.waitFor(/subscribed/);
      for (const r of Object.values(replicators)) await r.waitFor(/listening \d+/);
      await replicators.a.waitFor(/"peer connected"/);
      // 8 MB at 10,000/s: far more than the 1 MiB A keeps for B, so without the drop the publisher would wait on B for good.
      const pub = on('a', CLI, [
        'pub',
        ref.name,
        '--count',
        String(n),
        '--size',
        '256',
        '--seq',
        '--rate',
        '10000',
        '--wait-subscribers',
        '2',
        '--timeout',
        '60s',
      ]);
      await sleep(1000);
      replicators.b.child.kill('SIGKILL');
      expect(await pub.exited, pub.stderr()).toBe(0);
      expect(await sub.exited, sub.stderr()).toBe(0);
      expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: n, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
      await replicators.a.waitFor(/peer dropped/);
      replicators.a.child.kill('SIGTERM');
      expect(await replicators.a.exited, replicators.a.stderr()).toBe(0);
      expect(reportOf(replicators.a.stdout()).links).toEqual([expect.objectContaining({ node: 'node-b', state: 'Dropped' })]);
    } finally {
      for (const r of Object.values(replicators)) r.child.kill('SIGKILL');
      close();
    }
  });
});

describe("an idle node's replicator", () => {
  it('forwards a message published while it sleeps at once, not when its sleep ends: a write into the ring wakes it', async () => {
    const { ref, on, replicator, close } = replicatedOnBothHosts('nri', 1024);
    const replicators: Proc[] = [];
    try {
      const sub = on('b', CLI, ['sub', ref.name, '--count', '3']);
      await sub.waitFor(/subscribed/);
      // Every idle wait 5 s: only the ring's wake can get a message across sooner.
      replicators.push(replicator('a', { IDLE_US: '5000000' }), replicator('b'));
      for (const r of replicators) await r.waitFor(/"msg":"peer connected"/);
      for (const i of [1, 2, 3]) {
        await sleep(1000);
        const pub = on('a', CLI, ['pub', ref.name, `wake-${i}`]);
        expect(await pub.exited, pub.stderr()).toBe(0);
        const published = performance.now();
        await until(() => sub.stdout().includes(`wake-${i}\n`), `wake-${i} on B`, 10_000, 5);
        expect(performance.now() - published, `wake-${i}`).toBeLessThan(1500);
      }
      expect(await sub.exited).toBe(0);
    } finally {
      for (const r of replicators) r.child.kill('SIGKILL');
      close();
    }
  });
});

interface DuringRequests {
  /** Brings B's link down (inside its network namespace) or up. */
  linkB: (up: boolean) => void;
  /** Kills a host's replicator with SIGKILL. */
  kill: (side: Side) => Promise<void>;
  /** Starts a host's replicator again (the final report is the new one's). */
  restart: (side: Side) => Promise<void>;
  /** Answers A's requester has taken so far. */
  answered: () => number;
  /** What a host's current replicator has logged so far. */
  logs: (side: Side) => string;
  /** Makes `side`'s packets to the other host vanish (a blackhole route there), or lets them go again: it still receives. */
  blackhole: (side: Side, on: boolean) => void;
}

/** `shimmy request` on A and a `shimmy reply` (named by its host and number) on each host told, replicators on both; `during` runs once the requester started. */
async function requestAcross(n: number, workerHosts: Side[], during: (ctl: DuringRequests) => Promise<void> = async () => {}) {
  // A 256 KiB ring holds 8,192 requests: each test goes round it several times on both hosts.
  const { ref, files, on, replicator, close } = replicatedOnBothHosts('nrs', 1024, 256 * 1024, 'stream');
  const onA = Channel.openFile(ref, files.a);
  const started: Proc[] = [];
  try {
    const names = workerHosts.map((host, i) => `${host}${i}`);
    const workers = workerHosts.map((host, i) => on(host, CLI, ['reply', ref.name, '--as', names[i]!, '--json']));
    started.push(...workers);
    for (const w of workers) await w.waitFor(/answering requests/);
    const replicators = { a: replicator('a'), b: replicator('b') };
    started.push(replicators.a, replicators.b);
    for (const r of Object.values(replicators)) await r.waitFor(/"msg":"peer connected"/);
    const requester = on('a', CLI, ['request', ref.name, '--count', String(n), '--timeout', '60s', '--json']);
    started.push(requester);
    await during({
      linkB: (up) => {
        execFileSync('ip', ['-n', pair.hosts.b, 'link', 'set', pair.veth.b, up ? 'up' : 'down']);
        // UCX takes a device only once it has its carrier, on each end.
        const carrier = (side: Side) => execFileSync('ip', ['-n', pair.hosts[side], 'link', 'show', pair.veth[side]]).toString().includes('LOWER_UP');
        for (let waited = 0; up && !(carrier('a') && carrier('b')) && waited < 5000; waited += 10) execFileSync('sleep', ['0.01']);
      },
      kill: async (side) => {
        replicators[side].child.kill('SIGKILL');
        await replicators[side].exited;
      },
      restart: async (side) => {
        replicators[side] = replicator(side);
        started.push(replicators[side]);
        await replicators[side].waitFor(/listening \d+/);
      },
      answered: () => Atomics.load(onA.rings[1]!.ctl, RingWord.taken),
      logs: (side) => replicators[side].stderr(),
      blackhole: (side, on) =>
        execFileSync('ip', ['-n', pair.hosts[side], 'route', on ? 'add' : 'del', 'blackhole', `${pair.address[side === 'a' ? 'b' : 'a']}/32`]),
    });
    expect(await requester.exited, requester.stderr()).toBe(0);
    const seen = JSON.parse(requester.stdout().trim().split('\n').pop()!) as RequestSummary;
    expect(seen).toMatchObject({ answers: n, twice: 0, unknown: 0 });
    for (const w of workers) w.child.kill('SIGTERM');
    const answered = await Promise.all(
      workers.map(async (w) => (expect(await w.exited, w.stderr()).toBe(0), JSON.parse(w.stdout().trim().split('\n').pop()!).answered as number)),
    );
    // Each request was taken by one worker in the cluster: as many answered as were asked, each worker's answers all came back.
    expect(answered.reduce((a, b) => a + b, 0)).toBe(n);
    expect(answered).toEqual(names.map((name) => seen.byReplier[name] ?? 0));
    for (const r of Object.values(replicators)) r.child.kill('SIGTERM');
    for (const r of Object.values(replicators)) expect(await r.exited, r.stderr()).toBe(0);
    const onB = answered.filter((_, i) => workerHosts[i] === 'b').reduce((a, b) => a + b, 0);
    return {
      onB,
      seconds: seen.seconds,
      a: reportOf(replicators.a.stdout()),
      b: reportOf(replicators.b.stdout()),
      logs: { a: replicators.a.stderr(), b: replicators.b.stderr() },
      id: `${ref.namespace}/${ref.name}`,
    };
  } finally {
    for (const p of started) p.child.kill('SIGKILL');
    onA.close();
    close();
  }
}

describe("two nodes' replicators of a stream channel", () => {
  it('answer each of 20,000 requests from A exactly once, by a worker on A and two on B, and the answers find their way back', async () => {
    const { onB, a, b, id } = await requestAcross(20_000, ['a', 'b', 'b']);
    // The work crossed to B, and B's answers came back; nothing went twice.
    expect(onB).toBeGreaterThan(0);
    expect(a.channels[id]).toEqual([expect.objectContaining({ peer: 'node-b', forwarded: onB, landed: onB, repeats: 0 })]);
    expect(b.channels[id]).toEqual([expect.objectContaining({ peer: 'node-a', forwarded: onB, landed: onB, repeats: 0 })]);
  });

  it("answer each request exactly once when every worker is on B, through B's link going down for 2 s mid-stream", async () => {
    const n = 30_000;
    const { onB, seconds, a } = await requestAcross(n, ['b', 'b'], async ({ linkB }) => {
      await sleep(100);
      linkB(false);
      await sleep(2000);
      linkB(true);
    });
    expect(onB).toBe(n);
    // The outage came mid-stream and held the requests back (at full speed they take well under a second).
    expect(seconds).toBeGreaterThan(2);
    expect(a.links).toEqual([expect.objectContaining({ node: 'node-b', state: 'Connected' })]);
  });

  it('answer each request exactly once when both replicators are killed with SIGKILL holding frames the other never got, first requests, then answers: the next ones send them again from their spools', async () => {
    const n = 30_000;
    const { onB, a, b, logs, id } = await requestAcross(n, ['b', 'b'], async ({ kill, restart, answered, blackhole, logs: logsOf }) => {
      // Requests go from A on ring 0, answers from B on ring 1.
      for (const [sender, receiver, ring] of [
        ['a', 'b', 0],
        ['b', 'a', 1],
      ] as const) {
        const before = answered();
        await until(() => answered() >= before + 2000, 'answers flowing', 20_000, 1);
        expect(answered()).toBeLessThan(n - 5000);
        // The sender still hears the receiver ask for messages, takes them from its ring and frames them, but none arrive.
        blackhole(sender, true);
        await sleep(1000);
        await kill(sender);
        // The receiver's end goes too, so what the dead sender's kernel still held is refused when the route is back.
        await kill(receiver);
        blackhole(sender, false);
        await restart(sender);
        await restart(receiver);
        // The new sender found frames the killed one had taken from its ring in its spool, to send again.
        const resumed = new RegExp(`going on from the spool an earlier agent left.*"ring":${ring}.*"frames":[1-9]`);
        await until(() => resumed.test(logsOf(sender)), `${sender}'s new replicator going on from its spool`, 10_000);
      }
    });
    expect(onB).toBe(n);
    // Each side saw one sender throughout (no new epoch).
    expect(a.channels[id]![0], logs.a).toMatchObject({ restarts: 0, skipped: 0 });
    expect(b.channels[id]![0], logs.b).toMatchObject({ restarts: 0, skipped: 0 });
  });
});
