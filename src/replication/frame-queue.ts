/**
 * The frames a sender keeps for one peer until the peer acknowledges them, in sequence order:
 * `nextUnsent` walks the ones not yet sent on the current endpoint, `rewind` (a new endpoint)
 * starts that walk over from the oldest, `acknowledge` lets go of those the peer landed.
 */
export interface QueuedFrame {
  seq: bigint;
  data: Uint8Array;
  /** The channel's messages in the frame. */
  messages: number;
}

export class FrameQueue {
  private frames: QueuedFrame[] = [];
  private head = 0;
  /** Index (into frames) of the first frame not sent on the current endpoint. */
  private unsent = 0;
  bytes = 0;

  get length(): number {
    return this.frames.length - this.head;
  }

  push(seq: bigint, data: Uint8Array, messages = 1): void {
    this.frames.push({ seq, data, messages });
    this.bytes += data.byteLength;
  }

  /** The oldest frame's sequence number; undefined when none is kept. */
  oldest(): bigint | undefined {
    return this.frames[this.head]?.seq;
  }

  nextUnsent(): QueuedFrame | undefined {
    return this.frames[this.unsent];
  }

  markSent(): void {
    this.unsent++;
  }

  rewind(): void {
    this.unsent = this.head;
  }

  /** Lets go of every frame below `next` (the peer's next wanted sequence number). */
  acknowledge(next: bigint): void {
    while (this.head < this.frames.length && this.frames[this.head]!.seq < next) {
      this.bytes -= this.frames[this.head]!.data.byteLength;
      this.head++;
    }
    if (this.unsent < this.head) this.unsent = this.head;
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.unsent -= this.head;
      this.head = 0;
    }
  }

  clear(): void {
    this.frames = [];
    this.head = 0;
    this.unsent = 0;
    this.bytes = 0;
  }
}
