/**
 * The UCX link between two hosts (two network namespaces joined by a veth pair), the path
 * node agents will replicate channels over: UCX's TCP transport here, the same calls over
 * RDMA verbs where a NIC has them. Sequenced messages arrive exactly and in order, small
 * ones eager and 100 KB ones eagerly (as over TCP) and by rendezvous (as with an RDMA device);
 * failures are coded errors within their timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../../src/errors.js';
import { createHostPair, type HostPair, type Side } from '../../src/replication/host-pair.js';
import { transportsOf, UcxWorker } from '../../src/replication/ucx.js';
import { thrown } from '../helpers/errors.js';
import { CLI, HELPERS, ROOT, killStarted, startProgram } from '../helpers/proc.js';
import { channelOnBothHosts } from '../helpers/two-host-channel.js';

let pair: HostPair;

beforeAll(() => {
  pair = createHostPair(process.pid);
});

afterAll(() => {
  killStarted();
  pair?.remove();
});

/** bench/ucx/peer on a host, with UCX limited to TCP on that host's veth. */
function peerOn(side: Side, args: string[], key?: string, env: Record<string, string> = {}) {
  const [program, argv] = pair.on(side, process.execPath, [`${ROOT}dist/bench/ucx/peer.js`, ...args]);
  return startProgram(program, argv, undefined, {
    env: { ...process.env, UCX_TLS: 'tcp', UCX_NET_DEVICES: pair.veth[side], ...(key ? { SHIMMY_LINK_KEY: key } : {}), ...env },
  });
}

async function transfer(count: number, size: number, keys: { a?: string; b?: string } = {}, env: Record<string, string> = {}) {
  const server = peerOn('a', ['serve', pair.address.a, String(count), String(size)], keys.a, env);
  await server.waitFor(/listening \d+/, 20_000);
  const port = /listening (\d+)/.exec(server.stdout())![1]!;
  const client = peerOn('b', ['send', pair.address.a, port, String(count), String(size)], keys.b, env);
  const [serverCode, clientCode] = await Promise.all([server.exited, client.exited]);
  expect(clientCode, `client: ${client.stdout()} ${client.stderr()}`).toBe(0);
  expect(serverCode, `server: ${server.stderr()}`).toBe(0);
  const last = (text: string) => JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
  return { received: last(server.stdout()), sent: last(client.stdout()) };
}

describe('the UCX link between two hosts', () => {
  it('carries 100,000 sequenced 16-byte messages exactly and in order, over TCP on the veth it was given', async () => {
    const { received, sent } = await transfer(100_000, 16);
    expect(received).toMatchObject({ received: 100_000, outOfOrder: 0, corrupt: 0 });
    expect(sent.transports).toEqual([`tcp/${pair.veth.b}`]);
    expect(received.transports).toEqual([`tcp/${pair.veth.a}`]);
  });

  it('carries 2,000 sequenced 100 KB messages exactly, eagerly (the default over TCP) and by rendezvous (the threshold an RDMA device gets)', async () => {
    for (const threshold of [undefined, '65k']) {
      const { received } = await transfer(2_000, 100 * 1024, {}, threshold ? { UCX_RNDV_THRESH: threshold } : {});
      expect(received).toMatchObject({ received: 2_000, outOfOrder: 0, corrupt: 0 });
    }
  });

  it('with a key on both ends, carries 20,000 16-byte and 200 100 KB messages exactly; a receiver with a key takes nothing sent under another key or none (UNAUTHENTICATED)', async () => {
    const key = randomBytes(32).toString('hex');
    for (const [count, size] of [
      [20_000, 16],
      [200, 100 * 1024],
    ] as const)
      expect((await transfer(count, size, { a: key, b: key })).received).toMatchObject({ received: count, outOfOrder: 0, corrupt: 0 });
    for (const other of [randomBytes(32).toString('hex'), undefined]) {
      const server = peerOn('a', ['serve', pair.address.a, '10', '16'], key);
      await server.waitFor(/listening \d+/, 20_000);
      const port = /listening (\d+)/.exec(server.stdout())![1]!;
      const client = peerOn('b', ['send', pair.address.a, port, '10', '16'], other);
      expect(await server.exited).not.toBe(0);
      expect(server.stderr()).toMatch(/receiving: a (56|16)-byte message under tag 0x5348 without a valid MAC/);
      expect(server.stderr()).toMatch(/SHIMMY_ERR_UNAUTHENTICATED/);
      await client.exited;
    }
  });

  it("takes a keyed sender's messages relayed unchanged, and none with a byte of the body, the sender's salt, counter or MAC changed on the way (UNAUTHENTICATED)", async () => {
    const key = randomBytes(32).toString('hex');
    // The trailer: salt (16 bytes), counter (8), GMAC (16).
    for (const flip of ['none', '0', '-40', '-24', '-1']) {
      const server = peerOn('a', ['serve', pair.address.a, '10', '16'], key);
      await server.waitFor(/listening \d+/, 20_000);
      const relay = peerOn('b', ['relay', pair.address.b, '10', pair.address.a, /listening (\d+)/.exec(server.stdout())![1]!, flip]);
      await relay.waitFor(/listening \d+/, 20_000);
      const client = peerOn('a', ['send', pair.address.b, /listening (\d+)/.exec(relay.stdout())![1]!, '10', '16'], key);
      if (flip === 'none') {
        expect(await server.exited, server.stderr()).toBe(0);
        expect(server.stdout()).toMatch(/"received":10,"outOfOrder":0,"corrupt":0/);
      } else {
        expect(await server.exited, flip).not.toBe(0);
        expect(server.stderr()).toMatch(/receiving: a 56-byte message under tag 0x5348 without a valid MAC[^]*SHIMMY_ERR_UNAUTHENTICATED/);
      }
      await Promise.all([relay.exited, client.exited]);
    }
  });

  it('connects two peers that connect to each other at the same moment, each at its first try (a connect accepts what arrives while it waits)', async () => {
    const ends = [
      peerOn('a', ['mutual', pair.address.a, '7481', pair.address.b, '7482']),
      peerOn('b', ['mutual', pair.address.b, '7482', pair.address.a, '7481']),
    ];
    // Both listen before either connects (a moment set in advance came before a slow start listened, in CI).
    for (const end of ends) await end.waitFor(/listening/, 20_000);
    for (const end of ends) end.child.kill('SIGUSR2');
    for (const end of ends) {
      expect(await end.exited, end.stderr()).toBe(0);
      expect(JSON.parse(end.stdout().trim().split('\n').pop()!)).toEqual({ connectMs: expect.any(Number), acceptMs: expect.any(Number) });
    }
  });

  it("ends the sender's send with PEER_UNAVAILABLE soon after the receiving process is killed with SIGKILL, never a hang", async () => {
    const server = peerOn('a', ['serve', pair.address.a, String(1e9), '1024']);
    await server.waitFor(/listening \d+/, 20_000);
    const port = /listening (\d+)/.exec(server.stdout())![1]!;
    const client = peerOn('b', ['send', pair.address.a, port, String(1e9), '1024']);
    await new Promise((r) => setTimeout(r, 1000));
    server.child.kill('SIGKILL');
    const killedAt = performance.now();
    expect(await client.exited).not.toBe(0);
    expect(performance.now() - killedAt).toBeLessThan(15_000);
    expect(client.stderr(), client.stderr()).toMatch(/SHIMMY_ERR_PEER_UNAVAILABLE/);
  });
});

describe('a UCX worker', () => {
  it('gives coded errors within the timeout: nothing to receive, nobody listening, an unknown transport', () => {
    const worker = UcxWorker.open({ tls: 'tcp' });
    try {
      const started = performance.now();
      expect(thrown(() => worker.recv(1n, ~0n & 0xffffffffffffffffn, new Uint8Array(8), 300)).code).toBe(ErrorCode.TIMEOUT);
      expect(performance.now() - started).toBeLessThan(2_000);
      const refused = thrown(() => worker.connect('127.0.0.1', 1, 3_000));
      expect([ErrorCode.PEER_UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.TRANSPORT_FAILED]).toContain(refused.code);
      expect(thrown(() => worker.connect('not-an-address', 1, 100)).code).toBe(ErrorCode.INVALID_ARGUMENT);
    } finally {
      worker.close();
    }
    const none = thrown(() => UcxWorker.open({ tls: 'no-such-transport' }));
    expect(none.code).toBe(ErrorCode.TRANSPORT_FAILED);
    expect(none.message).toMatch(/no usable transports no-such-transport on devices/);
  });

  it('names the transport and device pairs of an endpoint from UCX’s description', () => {
    const description = [
      '#',
      '# UCP endpoint',
      '#',
      '#               peer: <no debug data>',
      '#                 lane[0]:  1:tcp/veth1.0 md[1]          -> md[1]/tcp/sysdev[255] rma_bw#0 am am_bw#0',
      '#                 lane[1]:  3:rc_mlx5/mlx5_0:1.0 md[3]   -> md[3]/ib/sysdev[255] rma_bw#1',
      '#                 lane[2]:  1:tcp/veth1.0 md[1]          -> md[1]/tcp/sysdev[255] wireup',
    ].join('\n');
    expect(transportsOf(description)).toEqual(['tcp/veth1', 'rc_mlx5/mlx5_0:1']);
  });
});

/** The channel on both hosts, and the arguments the replicate helper takes after its file. */
function channelForReplicate(prefix: string) {
  const made = channelOnBothHosts(pair, prefix, { capacity: 256 * 1024, maxMessage: 1024 });
  return { ...made, common: [made.ref.namespace, made.ref.name, String(made.config.maxMessage)] };
}

/**
 * A publisher on host A, a subscriber on each host, each host's channel in a memory file of
 * its own, a forwarder on A and a lander on B. `during` runs once the publisher has started.
 */
async function replicateOneWay(n: number, pubExtra: string[], during: () => Promise<void> = async () => {}) {
  const { ref, files, common, on, close } = channelForReplicate('repl');
  try {
    const subArgs = ['sub', ref.name, '--count', String(n), '--verify', '--json', '--quiet'];
    const subs = [on('b', CLI, subArgs), on('a', CLI, subArgs)];
    for (const sub of subs) await sub.waitFor(/subscribed/);
    const lander = on('b', `${HELPERS}/replicate.js`, ['land', files.b, ...common, pair.address.b, String(n)]);
    await lander.waitFor(/listening \d+/);
    const port = /listening (\d+)/.exec(lander.stdout())![1]!;
    const forwarder = on('a', `${HELPERS}/replicate.js`, ['forward', files.a, ...common, pair.address.b, port, String(n)]);
    await forwarder.waitFor(/subscribed/);
    const pub = on('a', CLI, ['pub', ref.name, '--count', String(n), '--size', '256', '--seq', '--wait-subscribers', '2', '--timeout', '60s', ...pubExtra]);
    const started = performance.now();
    await during();
    expect(await pub.exited, pub.stderr()).toBe(0);
    const publishMs = performance.now() - started;
    for (const p of [forwarder, lander, ...subs]) expect(await p.exited, p.stderr()).toBe(0);
    expect(JSON.parse(forwarder.stdout().trim())).toEqual({ forwarded: n });
    expect(JSON.parse(lander.stdout().trim().split('\n').pop()!)).toEqual({ landed: n, repeats: 0 });
    for (const sub of subs) expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: n, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
    return { publishMs };
  } finally {
    close();
  }
}

describe('a pub/sub channel replicated one way between two hosts', () => {
  it("gets a publisher's 50,000 sequenced messages to a subscriber on each host, exactly, through the link", async () => {
    await replicateOneWay(50_000, []);
  });

  it("stalls while B's link is down for 3 s mid-stream and then goes on, losing and repeating nothing", async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const { publishMs } = await replicateOneWay(30_000, ['--rate', '10000'], async () => {
      await sleep(1000);
      execFileSync('ip', ['-n', pair.hosts.b, 'link', 'set', pair.veth.b, 'down']);
      await sleep(3000);
      execFileSync('ip', ['-n', pair.hosts.b, 'link', 'set', pair.veth.b, 'up']);
    });
    // The outage held the publisher back (Block): its ring filled while nothing left the host.
    expect(publishMs).toBeGreaterThan(3500);
  });
});

describe('a pub/sub channel replicated both ways between two hosts', () => {
  it('gets each host’s publisher’s 20,000 messages to the subscribers of both hosts, exactly, and sends nothing back', async () => {
    const { ref, files, common, on, close } = channelForReplicate('both');
    try {
      const n = 20_000;
      const subArgs = ['sub', ref.name, '--count', String(2 * n), '--verify', '--json', '--quiet'];
      const subs = [on('a', CLI, subArgs), on('b', CLI, subArgs)];
      for (const sub of subs) await sub.waitFor(/subscribed/);
      const onB = on('b', `${HELPERS}/replicate.js`, ['both', files.b, ...common, 'listen', pair.address.b, String(n), String(n)]);
      await onB.waitFor(/listening \d+/);
      const port = /listening (\d+)/.exec(onB.stdout())![1]!;
      const onA = on('a', `${HELPERS}/replicate.js`, ['both', files.a, ...common, 'connect', pair.address.b, port, String(n), String(n)]);
      await onA.waitFor(/subscribed/);
      const pubArgs = ['pub', ref.name, '--count', String(n), '--size', '200', '--seq', '--wait-subscribers', '2', '--timeout', '60s'];
      const pubs = [on('a', CLI, pubArgs), on('b', CLI, pubArgs)];
      for (const p of [...pubs, onA, onB, ...subs]) expect(await p.exited, p.stderr()).toBe(0);
      for (const r of [onA, onB]) expect(JSON.parse(r.stdout().trim().split('\n').pop()!)).toEqual({ forwarded: n, landed: n, repeats: 0 });
      for (const sub of subs) expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: 2 * n, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
    } finally {
      close();
    }
  });
});
