import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { DURABLE_READER_TIMEOUT_MS, SlotWord } from './participants.js';
import { OWN_PID_NAMESPACE } from './liveness.js';
import { testChannels } from '../../test/helpers/proc.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const enc = new TextEncoder();
const dec = new TextDecoder();
const ID = 0xa9e47;

function texts(sub: ReturnType<Channel['subscriber']>, held = false) {
  const got: string[] = [];
  const take = (b: Uint8Array, o: number, l: number) => void got.push(dec.decode(b.subarray(o, o + l)));
  if (held) sub.pollHeld(take);
  else sub.poll(take);
  return got;
}

/** As if the slot's owner lived in another PID namespace and last beat `ageMs` ago. */
function beatLongAgo(ch: Channel, slot: number, ageMs: number) {
  ch.table.setWord(slot, SlotWord.pidNs, (OWN_PID_NAMESPACE + 1) >>> 0);
  ch.table.setWord(slot, SlotWord.heartbeat, ch.table.now() - ageMs);
}

describe('the node agent’s durable subscriber', () => {
  it('leaves its place to the next owner: what it held unreleased is read again, and resumeAt skips to where it had read', () => {
    const ref = channels.ref('durable');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const pub = ch.publisher();
    const first = ch.durableSubscriber(ID);
    expect(first.adopted).toBe(false);
    pub.tryPublish(enc.encode('before'));
    expect(texts(first)).toEqual(['before']);
    pub.tryPublish(enc.encode('m1'));
    pub.tryPublish(enc.encode('m2'));
    expect(texts(first, true)).toEqual(['m1', 'm2']);
    const readTo = first.position();
    // Killed before it released m1 and m2 (left, as a dead owner leaves it).
    first.leave();

    const second = Channel.open(ref).durableSubscriber(ID);
    expect(second.adopted).toBe(true);
    pub.tryPublish(enc.encode('m3'));
    expect(texts(second, true)).toEqual(['m1', 'm2', 'm3']);
    second.leave();

    const third = Channel.open(ref).durableSubscriber(ID);
    expect(third.resumeAt(readTo)).toBe(true);
    expect(texts(third)).toEqual(['m3']);
    ch.close();
  });

  it('refuses to resume anywhere but a record boundary between its place and the ring’s end', () => {
    const ref = channels.ref('resume');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const pub = ch.publisher();
    const sub = ch.durableSubscriber(ID);
    const start = sub.position();
    pub.tryPublish(enc.encode('abc'));
    expect(sub.resumeAt({ cursor: start.cursor + 8, expectedSeq: 0 })).toBe(false); // inside the record
    expect(sub.resumeAt({ cursor: start.cursor + 32, expectedSeq: 0 })).toBe(false); // past the end
    expect(sub.resumeAt({ cursor: (start.cursor - 16) >>> 0, expectedSeq: 0 })).toBe(false); // behind it
    expect(sub.resumeAt({ cursor: start.cursor + 3, expectedSeq: 0 })).toBe(false); // unaligned
    expect(texts(sub)).toEqual(['abc']);
    ch.close();
  });

  it('holds the publishers while no agent runs, under Block, and lets them go once nobody has beaten for the durable timeout', () => {
    const ref = channels.ref('abandon');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const pub = ch.publisher();
    const sub = ch.durableSubscriber(ID);
    const slot = ch.table.snapshot().find((s) => s.role === 'subscriber')!.index;
    sub.leave();
    beatLongAgo(ch, slot, 10_000);
    // Dead by the heartbeat timeout, but its place is kept for the next agent.
    expect(ch.table.reclaimIfDead(slot)).toBe(false);
    let sent = 0;
    while (pub.tryPublish(enc.encode('x'.repeat(48)))) sent++;
    expect(sent).toBeGreaterThan(0);
    expect(pub.tryPublish(enc.encode('more'))).toBe(false);
    beatLongAgo(ch, slot, DURABLE_READER_TIMEOUT_MS + 1000);
    expect(ch.table.reclaimIfDead(slot)).toBe(true);
    expect(pub.tryPublish(enc.encode('more'))).toBe(true);
    ch.close();
  });

  it('keeps a durable lander’s slot whatever its heartbeat: only a subscriber’s place times out', () => {
    const ref = channels.ref('lander-kept');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
    const lander = ch.lander(ID);
    const slot = ch.table.snapshot().find((s) => s.role === 'publisher')!.index;
    lander.leave();
    beatLongAgo(ch, slot, DURABLE_READER_TIMEOUT_MS + 1000);
    expect(ch.table.reclaimIfDead(slot)).toBe(false);
    ch.close();
  });
});
