import { describe, expect, it } from 'vitest';
import { RING_CONTROL_BYTES, RingWord } from './layout.js';
import { DURABLE_STATE_WORDS } from './participants.js';
import type { StateWords } from './slot-host.js';
import { abortedFrame, notePending, noteState, NoteState, settleNote } from './take-note.js';

const CURSOR = RingWord.sharedCursor;
const TAKEN = RingWord.taken;

function slotWords(): StateWords {
  const w = new Uint32Array(DURABLE_STATE_WORDS.length);
  return { count: w.length, get: (i) => w[i]!, set: (i, v) => void (w[i] = v) };
}

/** A ring whose shared cursor is at `cursor`, `taken` messages taken, and a dead taker's note of 5 messages from 800 to 1,000. */
function deadMidTake(cursor: number, taken: number) {
  const ctl = new Uint32Array(RING_CONTROL_BYTES / 4);
  ctl[CURSOR] = cursor;
  ctl[TAKEN] = taken;
  const s = slotWords();
  notePending(s, { to: 1000, count: 5, takenBefore: 0xffff_fffe, peer: 0xabcdef01, frameLo: 0x8000_0001 });
  return { ctl, s };
}

describe('a take note', () => {
  it('counts the take when the cursor had moved to where the note says (the taker died after moving it), `taken` wrapping round 2^32', () => {
    const { ctl, s } = deadMidTake(1000, 0xffff_fffe);
    expect(settleNote(s, ctl)).toBe('taken');
    expect(ctl[TAKEN]).toBe(3);
    expect(noteState(s)).toBe(NoteState.none);
    expect(abortedFrame(s)).toBeNull();
    // Nothing of it is left for `channel stat` to show as the slot's counts.
    expect(Array.from({ length: s.count }, (_, i) => s.get(i))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(settleNote(s, ctl)).toBeNull();
  });

  it('marks the frame aborted when the cursor had not moved, with `taken` as it was before the take', () => {
    const { ctl, s } = deadMidTake(800, 0xffff_fffe);
    expect(settleNote(s, ctl)).toBe('aborted');
    expect(ctl[TAKEN]).toBe(0xffff_fffe);
    expect(abortedFrame(s)).toEqual({ peer: 0xabcdef01, frameLo: 0x8000_0001 });
    // Settled once: a second takeover leaves it for the agent.
    expect(settleNote(s, ctl)).toBeNull();
    expect(noteState(s)).toBe(NoteState.aborted);
  });
});
