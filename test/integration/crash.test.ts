/**
 * Crash safety with real processes and real SIGKILL: dead subscribers are reclaimed, a
 * publisher killed mid-write exposes nothing and does not wedge the channel, a dead lock
 * holder is taken over, and a process attaching afterwards sees a consistent channel.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { R } from '../../src/channel/layout.js';
import { HELPERS, cli, helper, kill9, run, startProgram, testChannels } from '../helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

describe('a subscriber killed with SIGKILL', () => {
  it('is reclaimed and no longer holds publishers back', async () => {
    const ref = channels.ref('dead-sub');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024 });
    const idle = helper('idle-subscriber', [ref.namespace, ref.name]);
    await idle.waitFor(/subscribed/);
    const pub = ch.publisher();
    const msg = new Uint8Array(1000);
    let n = 0;
    while (pub.tryPublish(msg)) n++;
    expect(n).toBeLessThan(70); // the idle subscriber holds the ring full
    expect(ch.stats().subscribers).toBe(1);
    await kill9(idle);
    // A blocked publisher notices the dead subscriber and goes on.
    for (let i = 0; i < 500; i++) pub.publishSync(msg, { timeoutMs: 5000 });
    expect(ch.stats().subscribers).toBe(0);
    ch.close();
  });
});

describe('a subscriber in another PID namespace (a pod with hostIPC)', () => {
  it('is judged by its heartbeat: kept while it beats, reclaimed once it stops', async () => {
    const ref = channels.ref('other-pidns');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024 });
    // unshare runs node as pid 1 of a new PID namespace: kill(pid, 0) cannot judge it.
    const pod = startProgram('unshare', ['--pid', '--fork', '--kill-child', process.execPath, `${HELPERS}/idle-subscriber.js`, ref.namespace, ref.name]);
    await pod.waitFor(/subscribed/);
    const pub = ch.publisher();
    const msg = new Uint8Array(1000);
    while (pub.tryPublish(msg));
    // Alive and beating: it keeps holding the publisher back, however long we wait.
    expect(() => pub.publishSync(msg, { timeoutMs: 1500 })).toThrowError(/Timed out/);
    expect(ch.stats().subscribers).toBe(1);
    await kill9(pod);
    const stopped = Date.now();
    pub.publishSync(msg, { timeoutMs: 15_000 });
    // Reclaimed by the heartbeat timeout (5 s), not at once as a same-namespace pid would be.
    expect(Date.now() - stopped).toBeGreaterThan(3000);
    expect(ch.stats().subscribers).toBe(0);
    ch.close();
  });
});

describe('a publisher killed mid-write', () => {
  it('exposes no torn message and its lock is taken over', async () => {
    const ref = channels.ref('dead-pub');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 4096 });
    const sub = ch.subscriber();
    const holder = helper('hold-claim', [ref.namespace, ref.name, '4096']);
    await holder.waitFor(/claimed/);
    expect(Atomics.load(ch.rings[0]!.ctl, R.writeLock)).not.toBe(0);
    expect(sub.receive()).toBeNull();
    await kill9(holder);
    const pub = ch.publisher();
    pub.publishSync(new TextEncoder().encode('after the crash'), { timeoutMs: 5000 });
    const got = sub.receive();
    expect(new TextDecoder().decode(got!)).toBe('after the crash');
    expect(sub.receive()).toBeNull();
    ch.close();
  });

  it('never exposes a torn message when killed at random points of a burst', async () => {
    const ref = channels.ref('burst');
    Channel.create(ref, { capacity: 1 << 20, maxMessage: 65536 }).close();
    for (let round = 0; round < 4; round++) {
      const sub = cli(['sub', ref.name, '-n', ref.namespace, '--verify', '--json', '--quiet']);
      await sub.waitFor(/subscribed/);
      const observer = Channel.open(ref);
      const before = observer.stats().messages;
      const pub = cli(['pub', ref.name, '-n', ref.namespace, '--seq', '--count', '100000000', '--size', String(64 + round * 4000)]);
      // Kill it at a random point once the burst is under way (start-up time varies with load).
      const deadline = Date.now() + 20_000;
      while (observer.stats().messages === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      observer.close();
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      await kill9(pub);
      await new Promise((r) => setTimeout(r, 200));
      sub.child.kill('SIGTERM');
      expect(await sub.exited).toBe(0);
      const summary = JSON.parse(sub.stdout().trim().split('\n').at(-1)!);
      expect(summary.received).toBeGreaterThan(0);
      expect(summary).toMatchObject({ corrupt: 0, gaps: 0, outOfOrder: 0, lost: 0 });
    }
    // The channel is not wedged: a new publisher and subscriber still talk.
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--count', '1000', '--json', '--quiet']);
    await sub.waitFor(/subscribed/);
    expect((await run(['pub', ref.name, '-n', ref.namespace, '--count', '1000'])).code).toBe(0);
    expect(await sub.exited).toBe(0);
    expect(JSON.parse(sub.stdout().trim()).received).toBe(1000);
  });
});

describe('an exclusive publisher killed with a corked batch', () => {
  it('exposes none of the batch, and the next publisher takes the channel over', async () => {
    const ref = channels.ref('corked');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024 });
    const sub = ch.subscriber();
    const corked = helper('corked-publisher', [ref.namespace, ref.name]);
    await corked.waitFor(/corked/);
    expect(sub.receive()).toBeNull();
    await kill9(corked);
    const pub = ch.publisher({ exclusive: true });
    pub.publishSync(new TextEncoder().encode('after'));
    expect(new TextDecoder().decode(sub.receive()!)).toBe('after');
    expect(sub.receive()).toBeNull();
    ch.close();
  });
});

describe('a stream consumer killed holding the read lock', () => {
  it('does not wedge the stream: the next consumer takes the message', async () => {
    const ref = channels.ref('dead-reader');
    const ch = Channel.create(ref, { mode: 'stream', capacity: 65536, maxMessage: 1024 });
    const a = ch.streamEnd('a');
    a.publishSync(new TextEncoder().encode('job-1'));
    const holder = helper('hold-read-lock', [ref.namespace, ref.name, 'b']);
    await holder.waitFor(/locked [1-9]/);
    await kill9(holder);
    const b = ch.streamEnd('b');
    const got: string[] = [];
    b.take(10, (m) => got.push(m.toString()));
    expect(got).toEqual(['job-1']);
    ch.close();
  });
});

describe('a process attaching after crashes', () => {
  it('sees a consistent channel and dead participants are not counted', async () => {
    const ref = channels.ref('after');
    Channel.create(ref, { capacity: 65536, maxMessage: 4096 }).close();
    const idle = helper('idle-subscriber', [ref.namespace, ref.name]);
    const holder = helper('hold-claim', [ref.namespace, ref.name, '100']);
    await Promise.all([idle.waitFor(/subscribed/), holder.waitFor(/claimed/)]);
    await Promise.all([kill9(idle), kill9(holder)]);
    const ls = await run(['channel', 'ls', '--json']);
    expect(ls.code).toBe(0);
    const row = JSON.parse(ls.stdout).find((c: { name: string }) => c.name === ref.name);
    expect(row).toMatchObject({ publishers: 0, subscribers: 0, messages: 0, mode: 'pubsub' });
    const sub = cli(['sub', ref.name, '-n', ref.namespace, '--count', '3']);
    await sub.waitFor(/subscribed/);
    expect((await run(['pub', ref.name, '-n', ref.namespace, 'one', 'two', 'three'])).code).toBe(0);
    expect(await sub.exited).toBe(0);
    expect(sub.stdout()).toBe('one\ntwo\nthree\n');
  });
});
