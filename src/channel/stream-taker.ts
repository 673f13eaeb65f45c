/**
 * The node agent's consumer of one stream ring, for peer nodes whose consumers asked for
 * work: it takes in turn with this node's consumers, but only messages written on this node.
 * A message landed from a peer stays for this node's own consumers, so nothing goes back and
 * forth between nodes.
 *
 * Its slot is durable, and each take is a frame for one peer that the agent commits to its
 * spool while it still holds the ring's read lock, under a note in the slot (take-note.ts):
 * an agent killed at any instant leaves each message either in the ring or in its spool.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { RECORD_HEADER, RingWord } from './layout.js';
import type { RingView } from './ring-view.js';
import type { SlotHost, StateWords } from './slot-host.js';
import { StreamReader } from './stream-reader.js';
import type { RecoverableLock } from './lock.js';
import { abortedFrame, clearNote, notePending, noteState, NoteState, settleNote } from './take-note.js';

/** What the agent does with a take's messages while the taker holds the lock. */
export interface FrameSink {
  /** Adds the message `bytes[offset .. offset + length)` to the frame; false when it does not fit (it stays in the ring). */
  add(bytes: Uint8Array, offset: number, length: number): boolean;
  /** Makes the frame of the `count` messages added, uncommitted: its sequence number, and how to commit it. */
  seal(count: number): { seq: bigint; commit: () => void };
}

export class StreamTaker {
  private readonly reader: StreamReader;
  private readonly lock: RecoverableLock;
  private readonly slot: number;
  private readonly state: StateWords;
  private closed = false;

  /** `durableId` names the agent's slot on this ring; `takeOver`: the caller is the node's only agent (agent-lock.ts). */
  constructor(
    private readonly channel: SlotHost,
    private readonly ring: RingView,
    durableId: number,
    takeOver = false,
  ) {
    // A stream ring's writers wait on the shared cursor, not on this slot's.
    this.slot = channel.claimDurableSlot('subscriber', ring.index, durableId, takeOver).slot;
    this.state = channel.stateWords(this.slot);
    this.lock = channel.lockFor(ring.index, 'read', this.slot);
    this.reader = new StreamReader(ring, this.lock);
    if (noteState(this.state) === NoteState.pending) this.settleOwn();
  }

  /** An earlier agent died mid-take: whoever took its lock over settled the note; if none did, the lock is still the dead one's. */
  private settleOwn(): void {
    this.lock.acquire();
    try {
      settleNote(this.state, this.ring.ctl);
    } finally {
      this.lock.release();
    }
  }

  /**
   * The frame an earlier agent had made of messages it did not take after all (killed before
   * the cursor moved): its peer (fnv1a of the name) and sequence number's low 32 bits. The
   * agent takes it back out of that peer's spool, then calls forgetAborted().
   */
  abortedFrame(): { peer: number; frameLo: number } | null {
    return abortedFrame(this.state);
  }

  forgetAborted(): void {
    if (noteState(this.state) === NoteState.aborted) clearNote(this.state);
  }

  /**
   * Takes up to `max` messages written on this node into one frame for `peer` (fnv1a of its
   * name), stopping at one landed from a peer or one the frame has no room for. The frame is
   * sealed and committed before the cursor moves past its messages, all under the lock.
   */
  takeFrame(max: number, peer: number, sink: FrameSink): number {
    if (this.closed || this.channel.isClosed) throw new ShimmyError(ErrorCode.CLOSED, 'This stream taker is closed', 'Open the channel again');
    if (!this.reader.hasData(true)) return 0;
    const ring = this.ring;
    if (noteState(this.state) === NoteState.aborted)
      throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'An aborted take is still noted', 'Take its frame back out of the spool, then forgetAborted()');
    this.lock.acquire();
    let walked;
    try {
      walked = this.reader.walk(max, true, (idx, len) => sink.add(ring.bytes, idx + RECORD_HEADER, len));
      if (walked.count > 0) {
        const takenBefore = Atomics.load(ring.ctl, RingWord.taken);
        const frame = sink.seal(walked.count);
        notePending(this.state, { to: walked.cursor, count: walked.count, takenBefore, peer, frameLo: Number(frame.seq & 0xffffffffn) });
        try {
          frame.commit();
        } catch (err) {
          clearNote(this.state);
          throw err;
        }
        this.reader.advance(walked, takenBefore);
        clearNote(this.state);
      } else this.reader.advance(walked);
    } finally {
      this.lock.release();
    }
    if (walked.cursor !== walked.from) ring.space.wakeIfWaiting();
    this.reader.taken += walked.count;
    if (walked.fault !== null) throw walked.fault;
    return walked.count;
  }

  /** Whether a message written on this node is next in the ring, so takeFrame() would take it. */
  hasLocal(): boolean {
    return !this.closed && !this.channel.isClosed && this.reader.hasData(true);
  }

  /** Live stream ends on this node that consume this ring (they write the other one). */
  consumers(): number {
    let n = 0;
    this.ring.table.forEachActive('streamEnd', 1 - this.ring.index, () => n++);
    return n;
  }

  /** Messages in the ring that nobody has taken yet. */
  backlog(): number {
    return (Atomics.load(this.ring.ctl, RingWord.nextSeq) - Atomics.load(this.ring.ctl, RingWord.taken)) >>> 0;
  }

  /** Frees the slot: the channel is no longer replicated here. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.releaseSlot(this.slot);
  }

  /** Leaves the slot to the next agent (this one stops). */
  leave(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.leaveSlot(this.slot);
  }
}
