/**
 * What a node has landed from one peer in one channel, kept in the peer's lander slot
 * (channel/lander.ts) so that it outlives the agent: the peer sender's epoch and the next
 * frame wanted. A frame's landing is noted as pending (where its first record goes) just
 * before readers can see it and as done just after, so an agent killed in between is
 * resolved by the next one from the ring itself: the frame landed if its first record is
 * there, marked remote, with the noted sequence number.
 */
import type { Lander } from '../channel/lander.js';

const W = { epoch: 0, nextLo: 1, nextHi: 2, pendingAt: 3, pendingSeq: 4, pendingFrame: 5 } as const;

export interface Resumed {
  epoch: number;
  next: bigint;
}

export class LandingState {
  constructor(private readonly lander: Lander) {}

  /** What an earlier agent landed (null: nothing, a new slot), with a pending frame resolved. */
  restore(): Resumed | null {
    const s = this.lander.state;
    if (!this.lander.adopted || s.get(W.epoch) === 0) return null;
    let next = (BigInt(s.get(W.nextHi)) << 32n) | BigInt(s.get(W.nextLo));
    const pending = s.get(W.pendingAt);
    // Pending with `next` still at the pending frame: it became visible, or not, as the ring says.
    if (pending & 1 && Number(next & 0xffffffffn) === s.get(W.pendingFrame) && this.lander.landedAt(pending & ~1, s.get(W.pendingSeq))) next++;
    const resumed = { epoch: s.get(W.epoch), next };
    this.done(resumed.epoch, next);
    return resumed;
  }

  /** Just before frame `frame` of `epoch` becomes visible, its first record at `pos` with ring sequence number `seq`. */
  pending(pos: number, seq: number, epoch: number, frame: bigint): void {
    const s = this.lander.state;
    if (s.get(W.epoch) !== epoch) {
      s.set(W.pendingAt, 0);
      this.setNext(frame);
      s.set(W.epoch, epoch);
    }
    s.set(W.pendingSeq, seq);
    s.set(W.pendingFrame, Number(frame & 0xffffffffn));
    s.set(W.pendingAt, pos | 1);
  }

  /** Everything before frame `next` of `epoch` is landed. */
  done(epoch: number, next: bigint): void {
    const s = this.lander.state;
    s.set(W.epoch, epoch);
    this.setNext(next);
    s.set(W.pendingAt, 0);
  }

  private setNext(next: bigint): void {
    const s = this.lander.state;
    s.set(W.nextLo, Number(next & 0xffffffffn));
    s.set(W.nextHi, Number(next >> 32n));
  }
}
