/**
 * The node agent's consumer of one stream ring, for peer nodes whose consumers asked for
 * work: it takes in turn with this node's consumers, but only messages written on this node.
 * A message landed from a peer stays for this node's own consumers, so nothing goes back and
 * forth between nodes.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { RingWord } from './layout.js';
import type { RingView } from './ring-view.js';
import type { SlotHost } from './slot-host.js';
import { StreamReader } from './stream-reader.js';

export class StreamTaker {
  private readonly reader: StreamReader;
  private readonly slot: number;
  private closed = false;

  constructor(
    private readonly channel: SlotHost,
    private readonly ring: RingView,
  ) {
    // A reader's slot: the lock's owner token names it, and a stream ring's writers wait on the shared cursor, not on it.
    this.slot = channel.claimSlot('subscriber', ring.index);
    this.reader = new StreamReader(ring, channel.lockFor(ring.index, 'read', this.slot));
  }

  /** Takes up to `max` messages written on this node, stopping at one landed from a peer. */
  take(max: number, deliver: (message: Buffer) => void): number {
    if (this.closed || this.channel.isClosed) throw new ShimmyError(ErrorCode.CLOSED, 'This stream taker is closed', 'Open the channel again');
    return this.reader.take(max, deliver, true);
  }

  /** Whether a message written on this node is next in the ring, so take() would take it. */
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.releaseSlot(this.slot);
  }
}
