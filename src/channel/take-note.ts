/**
 * The node agent's note of the take it is making from a stream ring (stream-taker.ts), kept in
 * its durable slot while it holds the ring's read lock: where the shared cursor goes, how many
 * messages, the `taken` count before them, and which frame (peer and sequence number) holds
 * them in the agent's spool. Whoever takes the lock over from a dead agent settles the note
 * from the cursor before taking anything: at `to`, the take happened (and `taken` is made to
 * count it); anywhere else it did not, and the note says ABORTED, so the next agent takes the
 * frame back out of its spool. So a message is either in the spool or still in the ring.
 */
import { RingWord } from './layout.js';
import { DURABLE_STATE_WORDS, TAKE_NOTE_WORD } from './participants.js';
import type { StateWords } from './slot-host.js';

/** Indexes into the slot's state words (participants.ts: DURABLE_STATE_WORDS; the first is the slot's cursor, left alone). */
const W = { to: 1, takenBefore: 2, frameLo: 3, stateAndCount: DURABLE_STATE_WORDS.indexOf(TAKE_NOTE_WORD), peer: 5 } as const;
export const NoteState = { none: 0, pending: 1, aborted: 2 } as const;

export interface TakeNote {
  to: number;
  count: number;
  takenBefore: number;
  /** fnv1a of the peer node's name. */
  peer: number;
  /** The low 32 bits of the frame's sequence number. */
  frameLo: number;
}

/** Written before the frame is committed to the spool; the state word last. */
export function notePending(s: StateWords, n: TakeNote): void {
  s.set(W.to, n.to);
  s.set(W.takenBefore, n.takenBefore);
  s.set(W.frameLo, n.frameLo);
  s.set(W.peer, n.peer);
  s.set(W.stateAndCount, n.count * 4 + NoteState.pending);
}

/** Clears the state word first, then the rest (the slot's lost and delivered counts among them, as `channel stat` shows them). */
export function clearNote(s: StateWords): void {
  s.set(W.stateAndCount, NoteState.none);
  for (const w of [W.to, W.takenBefore, W.frameLo, W.peer]) s.set(w, 0);
}

export function noteState(s: StateWords): number {
  return s.get(W.stateAndCount) & 3;
}

/** A take that did not happen: its frame's peer and sequence number (low bits), or null. */
export function abortedFrame(s: StateWords): { peer: number; frameLo: number } | null {
  return noteState(s) === NoteState.aborted ? { peer: s.get(W.peer), frameLo: s.get(W.frameLo) } : null;
}

/**
 * Settles a dead taker's pending note from the ring's control words `ctl` (its shared cursor), under
 * the ring's read lock (taken over from it): returns what it decided, or null when nothing was pending.
 */
export function settleNote(s: StateWords, ctl: Uint32Array): 'taken' | 'aborted' | null {
  if (noteState(s) !== NoteState.pending) return null;
  const count = s.get(W.stateAndCount) >>> 2;
  const before = s.get(W.takenBefore);
  if (Atomics.load(ctl, RingWord.sharedCursor) === s.get(W.to)) {
    Atomics.store(ctl, RingWord.taken, (before + count) >>> 0);
    clearNote(s);
    return 'taken';
  }
  Atomics.store(ctl, RingWord.taken, before);
  s.set(W.stateAndCount, NoteState.aborted);
  return 'aborted';
}
