/**
 * Crash safety with real processes and real SIGKILL: dead subscribers are reclaimed, a
 * publisher killed mid-write exposes nothing and does not wedge the channel, a dead lock
 * holder is taken over, and a process attaching afterwards sees a consistent channel.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { RingWord } from '../../src/channel/layout.js';
import { OWN_PID_NAMESPACE } from '../../src/channel/liveness.js';
import { SlotWord, SlotState } from '../../src/channel/participants.js';
import { ErrorCode } from '../../src/errors.js';
import { SeqVerifier, fillSeqMessage, newPublisherId } from '../../src/cli/seq-message.js';
import { codeOf } from '../helpers/errors.js';
import { HELPERS, cli, helper, kill9, killStarted, run, startProgram, testChannels } from '../helpers/proc.js';
import { quietPeriod, until, within } from '../helpers/wait.js';

const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

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

describe('a participant killed with SIGKILL when every slot is taken', () => {
  it('keeps its slot until someone joins: the join reclaims it instead of failing with NO_FREE_SLOT', async () => {
    const ref = channels.ref('full');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024, maxParticipants: 4 });
    const idle = helper('idle-subscriber', [ref.namespace, ref.name]);
    await idle.waitFor(/subscribed/);
    const dead = ch.table.snapshot().find((s) => s.pid === idle.child.pid)!.index;
    ch.publisher();
    ch.subscriber();
    ch.subscriber();
    const mine = () =>
      ch.table
        .snapshot()
        .filter((s) => s.pid === process.pid)
        .map((s) => s.index);
    expect(mine()).toHaveLength(3);
    // Full of live participants: a join is refused, with the code and the way out.
    expect(codeOf(() => ch.subscriber())).toBe(ErrorCode.NO_FREE_SLOT);
    await kill9(idle);
    // Nobody has reclaimed the dead subscriber's slot yet (no publisher was blocked by it) ...
    expect(ch.table.word(dead, SlotWord.state)).toBe(SlotState.active);
    expect(ch.table.word(dead, SlotWord.pid)).toBe(idle.child.pid);
    // ... so the next join finds no free slot, reclaims the dead one's, and takes it.
    const before = mine();
    ch.subscriber();
    expect(mine().filter((i) => !before.includes(i))).toEqual([dead]);
    expect(ch.stats()).toMatchObject({ publishers: 1, subscribers: 3 });
    expect(codeOf(() => ch.subscriber())).toBe(ErrorCode.NO_FREE_SLOT);
    ch.close();
  });
});

describe('a subscriber in another PID namespace (a pod with hostIPC)', () => {
  it('is judged by its heartbeat: kept while it beats, reclaimed once it stops', async () => {
    const ref = channels.ref('other-pidns');
    // This process judges with a 2 s heartbeat timeout (default 5 s) to keep the test short;
    // the subscriber beats every 250 ms as always.
    const timeoutMs = 2000;
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024, heartbeatTimeoutMs: timeoutMs });
    // unshare runs node as pid 1 of a new PID namespace: kill(pid, 0) cannot judge it.
    const pod = startProgram('unshare', ['--pid', '--fork', '--kill-child', process.execPath, `${HELPERS}/idle-subscriber.js`, ref.namespace, ref.name]);
    await pod.waitFor(/subscribed/);
    const slot = ch.table.snapshot().find((s) => s.role === 'subscriber')!.index;
    expect(ch.table.word(slot, SlotWord.pidNs)).not.toBe(OWN_PID_NAMESPACE);
    const claimedAt = ch.table.word(slot, SlotWord.heartbeat);
    const pub = ch.publisher();
    const msg = new Uint8Array(1000);
    while (pub.tryPublish(msg));
    // Alive and beating: for two whole heartbeat timeouts it keeps holding the publisher
    // back. Only its heartbeat says it is alive; its claim-time stamp expires within the wait.
    expect(() => pub.publishSync(msg, { timeoutMs: 2 * timeoutMs })).toThrowError(/Timed out/);
    expect(ch.stats().subscribers).toBe(1);
    expect(ch.table.word(slot, SlotWord.state)).toBe(SlotState.active);
    expect((ch.table.now() - ch.table.word(slot, SlotWord.heartbeat)) | 0).toBeLessThan(timeoutMs);
    expect((ch.table.word(slot, SlotWord.heartbeat) - claimedAt) | 0).toBeGreaterThan(timeoutMs);
    await kill9(pod);
    const lastBeat = ch.table.word(slot, SlotWord.heartbeat);
    const killedAt = ch.table.now();
    pub.publishSync(msg, { timeoutMs: 30_000 });
    const reclaimedAt = ch.table.now();
    // Reclaimed once its last beat is a heartbeat timeout old: not at once, as a subscriber
    // in our own PID namespace would be, and not much later (a generous bound).
    expect(ch.table.word(slot, SlotWord.state)).toBe(SlotState.free);
    expect(ch.stats().subscribers).toBe(0);
    expect((killedAt - lastBeat) | 0).toBeLessThan(timeoutMs);
    expect((reclaimedAt - lastBeat) | 0).toBeGreaterThan(timeoutMs);
    expect((reclaimedAt - lastBeat) | 0).toBeLessThan(timeoutMs + 10_000);
    ch.close();
  });

  it('keeps its write lock while it beats, and has it taken over (no torn message) once its heartbeat stops', async () => {
    const ref = channels.ref('other-pidns-lock');
    const timeoutMs = 2000;
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 4096, heartbeatTimeoutMs: timeoutMs });
    const sub = ch.subscriber();
    const pod = startProgram('unshare', ['--pid', '--fork', '--kill-child', process.execPath, `${HELPERS}/hold-claim.js`, ref.namespace, ref.name, '4096']);
    await pod.waitFor(/claimed/);
    const holder = ch.table.snapshot().find((s) => s.role === 'publisher')!.index;
    expect(ch.table.word(holder, SlotWord.pidNs)).not.toBe(OWN_PID_NAMESPACE);
    const pub = ch.publisher();
    const msg = new TextEncoder().encode('after the takeover');
    // kill(pid, 0) cannot see into its PID namespace; its heartbeat says it is alive.
    expect(() => pub.publishSync(msg, { timeoutMs: 2 * timeoutMs })).toThrowError(/Timed out/);
    expect(sub.receive()).toBeNull();
    await kill9(pod);
    const lastBeat = ch.table.word(holder, SlotWord.heartbeat);
    pub.publishSync(msg, { timeoutMs: 30_000 });
    const takenAt = ch.table.now();
    expect((takenAt - lastBeat) | 0).toBeGreaterThan(timeoutMs);
    expect(new TextDecoder().decode(sub.receive()!)).toBe('after the takeover');
    expect(sub.receive()).toBeNull();
    ch.close();
  });
});

describe('a node agent killed with SIGKILL while it owns a lander', () => {
  it('leaves its durable slot and state to the next agent: no other process reclaims it, and a live owner is a conflict', async () => {
    const ref = channels.ref('dead-lander');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024, maxParticipants: 4 });
    const sub = ch.subscriber();
    const agent = helper('hold-lander', [ref.namespace, ref.name, '77']);
    await agent.waitFor(/landed/);
    expect(codeOf(() => ch.lander(77))).toBe(ErrorCode.PUBLISHER_CONFLICT);
    await kill9(agent);
    // A full participant table reclaims dead slots, but not this one.
    const pubs = [ch.publisher(), ch.publisher()];
    expect(codeOf(() => ch.publisher())).toBe(ErrorCode.NO_FREE_SLOT);
    for (const p of pubs) p.close();
    let landedText = '';
    sub.poll((b, o, l, _seq, remote) => (landedText = `${new TextDecoder().decode(b.subarray(o, o + l))} ${remote}`));
    expect(landedText).toBe('landed before the crash true');
    const next = ch.lander(77);
    expect(next.adopted).toBe(true);
    expect(next.landedAt(next.state.get(0), next.state.get(1))).toBe(true);
    ch.close();
  });
});

describe("a node agent that holds the node's agent lock", () => {
  it("adopts a lander's durable slot whose owner still looks alive (an earlier agent in a PID namespace it cannot see)", async () => {
    const ref = channels.ref('lock-lander');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 1024 });
    const agent = helper('hold-lander', [ref.namespace, ref.name, '78']);
    await agent.waitFor(/landed/);
    expect(codeOf(() => ch.lander(78))).toBe(ErrorCode.PUBLISHER_CONFLICT);
    const next = ch.lander(78, true);
    expect(next.adopted).toBe(true);
    expect(next.landedAt(next.state.get(0), next.state.get(1))).toBe(true);
    expect(ch.stats().publishers).toBe(1);
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
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.writeLock)).not.toBe(0);
    expect(sub.receive()).toBeNull();
    await kill9(holder);
    const pub = ch.publisher();
    pub.publishSync(new TextEncoder().encode('after the crash'), { timeoutMs: 5000 });
    const got = sub.receive();
    expect(new TextDecoder().decode(got!)).toBe('after the crash');
    expect(sub.receive()).toBeNull();
    ch.close();
  });

  it('never exposes a torn message when killed at random points of a burst, most of them mid-write', async () => {
    const ref = channels.ref('burst');
    Channel.create(ref, { capacity: 8 << 20, maxMessage: 65536 }).close();
    const observer = Channel.open(ref);
    const writeLock = () => Atomics.load(observer.rings[0]!.ctl, RingWord.writeLock);
    const rounds = 6;
    let midWrite = 0;
    for (let round = 0; round < rounds; round++) {
      const sub = cli(['sub', ref.name, '-n', ref.namespace, '--verify', '--json', '--quiet']);
      await sub.waitFor(/subscribed/);
      const before = observer.stats().messages;
      // Large frames filled in place: the write lock is held while each is written.
      const pub = helper('seq-claim-publisher', [ref.namespace, ref.name, String(16384 + round * 9000)]);
      // Kill it at a random point once the burst is under way (start-up time varies with load),
      // at the next moment it holds the write lock if it does not hold it then (at most 200 ms on).
      await until(() => observer.stats().messages > before + 10, 'the burst to start');
      await sleep(100 + Math.random() * 400);
      const lockedBy = Date.now() + 200;
      while (writeLock() === 0 && Date.now() < lockedBy);
      await kill9(pub);
      // Nobody else writes: the lock word still holds the dead writer's token if it died mid-write.
      if (writeLock() !== 0) midWrite++;
      await sleep(200);
      sub.child.kill('SIGTERM');
      expect(await within(sub.exited, 'the subscriber to exit on SIGTERM')).toBe(0);
      const summary = JSON.parse(sub.stdout().trim().split('\n').at(-1)!);
      expect(summary.received).toBeGreaterThan(10);
      expect(summary).toMatchObject({ corrupt: 0, gaps: 0, outOfOrder: 0, lost: 0, publishers: 1 });
    }
    observer.close();
    // The kill landed mid-write (lock held, record half-written) in most rounds, so the
    // takeover and repair paths were exercised; each next round's publisher took the lock over.
    expect(midWrite).toBeGreaterThanOrEqual(rounds / 2);
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

describe('a publisher killed in the middle of a batch', () => {
  for (const kind of ['shared', 'exclusive'] as const) {
    it(`exposes none of that batch, every batch before it, and the next publisher takes over (${kind} publisher)`, async () => {
      const ref = channels.ref(`batch-${kind}`);
      const ch = Channel.create(ref, { capacity: 1 << 20, maxMessage: 4096 });
      const sub = ch.subscriber();
      const verifier = new SeqVerifier();
      const drain = () => {
        let n = 0;
        sub.poll((b, o, l) => {
          n++;
          expect(verifier.check(b, o, l)).toBeNull();
        });
        return n;
      };
      // Three whole batches of 64, then frozen while writing message 40 of the fourth.
      const holder = helper('batch-publisher', [ref.namespace, ref.name, kind, '64', '1000', '3', '40']);
      await holder.waitFor(/frozen after 192 messages/);
      // The frozen batch's first 40 records are in the ring behind its first head, still zero.
      const ring = ch.rings[0]!;
      const tail = Atomics.load(ring.ctl, RingWord.tail);
      expect(Atomics.load(ring.words, (tail & ring.mask) >>> 2)).toBe(0);
      expect(Atomics.load(ring.words, ((tail + 39 * 1008) & ring.mask) >>> 2)).not.toBe(0);
      expect(drain()).toBe(192);
      await kill9(holder);
      expect(drain()).toBe(0);
      const pub = ch.publisher({ exclusive: kind === 'exclusive' });
      const id = newPublisherId();
      const after = Array.from({ length: 10 }, (_, i) => {
        const m = new Uint8Array(500);
        fillSeqMessage(m, id, i);
        return m;
      });
      pub.publishBatchSync(after, after.length, { timeoutMs: 5000 });
      expect(drain()).toBe(10);
      expect(verifier).toMatchObject({ corrupt: 0, gaps: 0, outOfOrder: 0, publishers: 2 });
      ch.close();
    });
  }
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

describe("a node agent's stream taker killed mid-take", () => {
  const enc = new TextEncoder();
  const TAKER = 77;

  /** Three jobs on ring 0, and the taker killed at `step` with them in its frame. */
  async function killedMidTake(prefix: string, step: 'seal' | 'commit') {
    const ref = channels.ref(prefix);
    const ch = Channel.create(ref, { mode: 'stream', capacity: 65536, maxMessage: 1024 });
    const a = ch.streamEnd('a');
    for (const job of ['job-1', 'job-2', 'job-3']) a.publishSync(enc.encode(job));
    const taker = helper('die-mid-take', [ref.namespace, ref.name, String(TAKER), step]);
    expect(await taker.exited).toBeNull();
    // It died holding the ring's read lock, mid-take.
    expect(Atomics.load(ch.rings[0]!.ctl, RingWord.readLock)).not.toBe(0);
    return ch;
  }

  const taken = (take: (deliver: (m: Buffer) => void) => number) => {
    const got: string[] = [];
    take((m) => got.push(m.toString()));
    return got;
  };

  it("leaves the jobs to this node's consumer when killed after noting the take: the consumer taking its lock over marks the frame aborted for the next agent", async () => {
    const ch = await killedMidTake('mid-take', 'commit');
    const b = ch.streamEnd('b');
    expect(taken((d) => b.take(10, d))).toEqual(['job-1', 'job-2', 'job-3']);
    expect(ch.stats().lag).toBe(0);
    // The next agent adopts the slot and learns which frame to take back out of its spool.
    const next = ch.streamTaker(0, TAKER, true);
    expect(next.abortedFrame()).toEqual({ peer: 0x5eed, frameLo: 7 });
    next.forgetAborted();
    expect(next.abortedFrame()).toBeNull();
    ch.close();
  });

  it('leaves the jobs in the ring when killed after noting the take and nobody else reads: the next agent takes the lock over, settles, and takes them itself', async () => {
    const ch = await killedMidTake('mid-take-own', 'commit');
    const next = ch.streamTaker(0, TAKER, true);
    expect(next.abortedFrame()).toEqual({ peer: 0x5eed, frameLo: 7 });
    expect(() => next.takeFrame(10, 1, { add: () => true, seal: () => ({ seq: 0n, commit: () => {} }) })).toThrow(/aborted take/);
    next.forgetAborted();
    let count = 0;
    expect(next.takeFrame(10, 1, { add: () => true, seal: (n) => ((count = n), { seq: 0n, commit: () => {} }) })).toBe(3);
    expect(count).toBe(3);
    expect(next.backlog()).toBe(0);
    ch.close();
  });

  it('notes nothing when killed before the frame is sealed: the jobs stay in the ring and no frame is aborted', async () => {
    const ch = await killedMidTake('mid-seal', 'seal');
    const next = ch.streamTaker(0, TAKER, true);
    expect(next.abortedFrame()).toBeNull();
    const b = ch.streamEnd('b');
    expect(taken((d) => b.take(10, d))).toEqual(['job-1', 'job-2', 'job-3']);
    ch.close();
  });
});

describe('a publisher holding a claim in another process', () => {
  it('makes tryPublish and tryClaim return at once, and publish() wait off the event loop until the holder is gone', async () => {
    const ref = channels.ref('held');
    const ch = Channel.create(ref, { capacity: 65536, maxMessage: 4096 });
    const sub = ch.subscriber();
    const holder = helper('hold-claim', [ref.namespace, ref.name, '100']);
    await holder.waitFor(/claimed/);
    const pub = ch.publisher();
    const message = new TextEncoder().encode('after the holder');
    const started = performance.now();
    for (let i = 0; i < 100; i++) expect(pub.tryPublish(message)).toBe(false);
    expect(pub.tryClaim(16)).toBeNull();
    expect(performance.now() - started).toBeLessThan(500);
    // publish() waits for the lock without holding the event loop: timers keep firing.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const pending = pub.publish(message, { timeoutMs: 10_000 });
    await quietPeriod(500);
    expect(ticks).toBeGreaterThan(15);
    expect(sub.receive()).toBeNull();
    await kill9(holder);
    await pending;
    clearInterval(timer);
    expect(new TextDecoder().decode(sub.receive()!)).toBe('after the holder');
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
