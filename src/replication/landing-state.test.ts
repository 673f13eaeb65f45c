import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../channel/channel.js';
import { RingWord } from '../channel/layout.js';
import { testChannels } from '../../test/helpers/proc.js';
import { LandingState } from './landing-state.js';
import { recordsOf } from '../../test/helpers/records.js';

const channels = testChannels();
afterEach(() => channels.cleanup());

const records = recordsOf('frame');
const EPOCH = 0x1234;

/** A channel with a lander for peer 9 that landed frames 0..landed-1 of EPOCH, then "died": left its slot. */
function landedThenLeft(landed: number, last: 'done' | 'killed after publish' | 'killed before publish') {
  const ref = channels.ref('state');
  const ch = Channel.create(ref, { capacity: 4096, maxMessage: 64 });
  const lander = ch.lander(9);
  const state = new LandingState(lander);
  for (let f = 0; f < landed; f++) {
    expect(lander.tryLand(records, 0, records.length, (pos, seq) => state.pending(pos, seq, EPOCH, BigInt(f)))).toBe(1);
    if (f < landed - 1 || last !== 'killed after publish') state.done(EPOCH, BigInt(f + 1));
  }
  if (last === 'killed before publish') {
    // Noted as pending where the next record would go, then killed before it became visible.
    state.pending(Atomics.load(ch.rings[0]!.ctl, RingWord.tail), Atomics.load(ch.rings[0]!.ctl, RingWord.nextSeq), EPOCH, BigInt(landed));
  }
  lander.leave();
  ch.close();
  return new LandingState(Channel.open(ref).lander(9));
}

describe('LandingState', () => {
  it('gives the next agent the epoch and the next frame wanted', () => {
    expect(landedThenLeft(3, 'done').restore()).toEqual({ epoch: EPOCH, next: 3n });
  });

  it('counts a frame that became visible before its lander was killed, and not one that did not', () => {
    expect(landedThenLeft(3, 'killed after publish').restore()).toEqual({ epoch: EPOCH, next: 3n });
    expect(landedThenLeft(3, 'killed before publish').restore()).toEqual({ epoch: EPOCH, next: 3n });
  });

  it('has nothing for a new lander, and a restored state does not count the pending frame twice', () => {
    const ch = Channel.create(channels.ref('fresh'), { capacity: 4096, maxMessage: 64 });
    expect(new LandingState(ch.lander(1)).restore()).toBeNull();
    const again = landedThenLeft(2, 'killed after publish');
    expect(again.restore()).toEqual({ epoch: EPOCH, next: 2n });
    expect(again.restore()).toEqual({ epoch: EPOCH, next: 2n });
  });
});
