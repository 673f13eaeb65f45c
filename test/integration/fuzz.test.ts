/**
 * Hostile bytes in a live segment: while `shimmy pub --seq` and two `shimmy sub --verify`
 * run, this process writes random words into the segment's header, participant slots, ring
 * control blocks and ring data. Each program must go on or fail with a Shimmy error code,
 * never crash (no stack trace, no signal) and never hang: SIGTERM ends it within seconds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { RING_CONTROL } from '../../src/channel/layout.js';
import { cli, killStarted, run, testChannels, type Proc } from '../helpers/proc.js';
import { until, within } from '../helpers/wait.js';

const channels = testChannels();
afterEach(() => {
  killStarted();
  channels.cleanup();
});

/** A small seeded generator (mulberry32), so a failing run can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** How a program ended: its code and whether what it printed is a Shimmy error, not a crash. */
async function endOnSigterm(p: Proc, what: string): Promise<number> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const code = await within(p.exited, `${what} to end on SIGTERM`, 10_000);
  expect(p.child.signalCode, `${what} died of a signal`).toBeNull();
  expect(p.stderr(), `${what} crashed`).not.toMatch(/\n\s+at /);
  if (code === 1) expect(p.stderr(), `${what} failed without a Shimmy error code`).toMatch(/\[SHIMMY_ERR_[A-Z_]+\]/);
  return code ?? -1;
}

describe('random words written into a live segment', () => {
  for (const slowConsumer of ['block', 'overwrite'] as const) {
    it(`end each program with valid messages or a Shimmy error, and SIGTERM always ends it (${slowConsumer})`, async () => {
      const seed = (Math.random() * 2 ** 32) >>> 0;
      const next = random(seed);
      const ref = channels.ref(`fuzz-${slowConsumer}`);
      const created = await run([
        'channel',
        'create',
        ref.name,
        '-n',
        ref.namespace,
        '--capacity',
        '256KiB',
        '--max-message',
        '1KiB',
        '--slow-consumer',
        slowConsumer,
      ]);
      expect(created.code).toBe(0);
      const subs = [0, 1].map(() => cli(['sub', ref.name, '-n', ref.namespace, '--verify', '--json', '--quiet']));
      await Promise.all(subs.map((s) => s.waitFor(/subscribed/)));
      const pub = cli(['pub', ref.name, '-n', ref.namespace, '--count', '1000000000', '--size', '200', '--seq']);
      const ch = Channel.open(ref);
      await until(() => ch.stats().messages > 10_000, 'traffic to start');
      const ring = ch.rings[0]!;
      const words = new Uint32Array(ring.words.buffer);
      const dataStart = ring.words.byteOffset >>> 2;
      const writes = { control: 0, data: 0 };
      // 2 s of hits, about one a millisecond: a third into the header, slots and ring control
      // block, the rest into the ring's data.
      const until2s = performance.now() + 2000;
      while (performance.now() < until2s) {
        const inData = next() < 2 / 3;
        const word = inData ? dataStart + Math.floor(next() * ring.words.length) : Math.floor(next() * dataStart);
        words[word] = (next() * 2 ** 32) >>> 0;
        writes[inData ? 'data' : 'control']++;
        await new Promise((r) => setTimeout(r, 1));
      }
      ch.close();
      const context = `seed ${seed}, ${writes.control} words into the header, slots and control (first ${RING_CONTROL} bytes: header), ${writes.data} into the ring`;
      expect([0, 1], `pub (${context})`).toContain(await endOnSigterm(pub, `pub (${context})`));
      for (const [i, s] of subs.entries()) {
        const code = await endOnSigterm(s, `sub ${i} (${context})`);
        // 3: --verify counted corrupt or out-of-order messages (random bytes in payloads)
        expect([0, 1, 3], `sub ${i} (${context})`).toContain(code);
        if (code !== 1) expect(JSON.parse(s.stdout().trim().split('\n').at(-1)!).received).toBeGreaterThan(0);
      }
    });
  }
});
