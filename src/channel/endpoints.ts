/**
 * What applications hold: a Publisher, a Subscriber, or one end of a stream. Each owns a
 * participant slot; close() gives it back. Fast paths (tryPublish, poll) never allocate.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import { AdaptivePause, checkIdle, unlessAborted, waitAsync, waitSync, type IdleOptions, type IdleStrategy, type WaitOptions } from './idle.js';
import { RingWriter } from './ring-writer.js';
import { StreamReader } from './stream-reader.js';
import { SubscriberReader, type MessageHandler, type ReaderPosition } from './subscriber-reader.js';
import { RecordBatch } from './record-batch.js';
import { RingWord } from './layout.js';
import { SlotWord } from './participants.js';
import type { RingView } from './ring-view.js';
import type { SlotHost } from './slot-host.js';

export type StreamSide = 'a' | 'b';

export interface PublisherOptions {
  /** The channel's only publisher: holds the write lock until close (see Channel.publisher). */
  exclusive?: boolean;
}

export interface SendOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A zero-copy reservation: fill `bytes`, then commit(). The channel's write lock is held meanwhile. */
export interface Claim {
  readonly bytes: Uint8Array;
  commit(length?: number): number;
  abort(): void;
}

function closedError(channel: SlotHost, what: string): ShimmyError {
  return channel.removedError() ?? new ShimmyError(ErrorCode.CLOSED, `This ${what} is closed`, 'Open the channel again to get a new one');
}

function checkBatchCount(msgs: readonly Uint8Array[], count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > msgs.length) {
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      `A batch count of ${count} is not between 0 and the ${msgs.length} messages given`,
      'Pass a count no larger than the array',
    );
  }
}

/** Shared by publishers, landers and stream ends: a writer that can wait for space. */
export class WriterEndpoint {
  protected readonly writer: RingWriter;
  protected closed = false;
  /** One of our claims is open, holding the ring's write lock. */
  private claimOpen = false;
  /** Async writers of this endpoint not yet done; they go in call order (a promise chain). */
  private queued = 0;
  private turn: Promise<void> = Promise.resolve();

  constructor(
    protected readonly channel: SlotHost,
    protected readonly ring: RingView,
    protected readonly slot: number,
    private readonly what: string,
    exclusive = false,
  ) {
    try {
      this.writer = new RingWriter(ring, channel.lockFor(ring.index, 'write', slot), exclusive);
    } catch (err) {
      channel.releaseSlot(slot);
      throw err;
    }
  }

  protected assertOpen(): void {
    if (this.closed || this.channel.isClosed) throw closedError(this.channel, this.what);
  }

  get maxMessage(): number {
    return this.ring.maxMessage;
  }

  /**
   * Copies `data` in. False when it cannot be written now: the ring is full (block policy),
   * this endpoint's own claim is still open, or another publisher's claim holds the write
   * lock. Never waits.
   */
  tryPublish(data: Uint8Array): boolean {
    this.assertOpen();
    if (this.claimOpen || this.queued !== 0) return false;
    return this.writer.tryWrite(data);
  }

  /**
   * Copies `msgs[0..count)` in as one batch, in order, each its own message with its own
   * sequence number. Readers see them together (one release store), so a publisher killed
   * mid-batch exposes none of them. Returns how many were published: all, the prefix that
   * fit in a full ring (block policy), or 0 while another publisher's claim holds the write
   * lock. Never waits.
   */
  tryPublishBatch(msgs: readonly Uint8Array[], count = msgs.length): number {
    this.assertOpen();
    checkBatchCount(msgs, count);
    if (this.claimOpen || this.queued !== 0) return 0;
    return this.writer.tryWriteBatch(msgs, 0, count);
  }

  /** Publishes all of `msgs[0..count)` in batches, blocking this thread while the ring is full. */
  publishBatchSync(msgs: readonly Uint8Array[], count = msgs.length, options: SendOptions & IdleOptions = {}): void {
    checkBatchCount(msgs, count);
    this.assertNoOpenClaim();
    for (let done = 0; done < count;) {
      this.assertOpen();
      const n = this.writer.tryWriteBatch(msgs, done, count);
      done += n;
      if (n === 0) waitSync(this.ring.space, () => this.roomFor(msgs[done]!.length), this.spaceWait(options));
    }
  }

  /** Publishes all of `msgs[0..count)` in batches, waiting off the event loop while the ring is full. */
  async publishBatch(msgs: readonly Uint8Array[], count = msgs.length, options: SendOptions & IdleOptions = {}): Promise<void> {
    checkBatchCount(msgs, count);
    const release = await this.takeTurn();
    try {
      for (let done = 0; done < count;) {
        this.assertOpen();
        const n = this.writer.tryWriteBatch(msgs, done, count);
        done += n;
        if (n === 0) await waitAsync(this.ring.space, () => this.roomFor(msgs[done]!.length), this.spaceWait(options));
      }
    } finally {
      release();
    }
  }

  /**
   * Starts a batch, like Writable.cork(): messages published until uncork() become visible
   * to readers together, with one release store instead of one per message. A full ring
   * publishes the batch early. Exclusive publishers only.
   */
  cork(): void {
    this.assertOpen();
    this.writer.cork();
  }

  /** Publishes the batch started by cork(). */
  uncork(): void {
    this.assertOpen();
    this.writer.uncork();
  }

  /** Waits for the turns of earlier async writers; returns the release of ours. */
  private async takeTurn(): Promise<() => void> {
    this.queued++;
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise<void>((resolve) => {
      release = () => {
        this.queued--;
        resolve();
      };
    });
    await previous;
    return release;
  }

  private assertNoOpenClaim(): void {
    if (this.claimOpen || this.queued !== 0) {
      throw new ShimmyError(
        ErrorCode.INVALID_ARGUMENT,
        'This endpoint has an open claim or pending async writes, so a blocking write would wait on itself',
        'Commit or abort the claim first, or keep to the async publish()/claim()',
      );
    }
  }

  /** Copies `data` in, blocking this thread while the ring is full. */
  publishSync(data: Uint8Array, options: SendOptions & IdleOptions = {}): void {
    this.assertNoOpenClaim();
    for (;;) {
      this.assertOpen();
      if (this.writer.tryWrite(data)) return;
      waitSync(this.ring.space, () => this.roomFor(data.length), this.spaceWait(options));
    }
  }

  /** Copies `data` in, waiting off the event loop while the ring is full. */
  async publish(data: Uint8Array, options: SendOptions & IdleOptions = {}): Promise<void> {
    const release = await this.takeTurn();
    try {
      for (;;) {
        this.assertOpen();
        if (this.writer.tryWrite(data)) return;
        await waitAsync(this.ring.space, () => this.roomFor(data.length), this.spaceWait(options));
      }
    } finally {
      release();
    }
  }

  /** Reserves `length` bytes for in-place filling, or returns null when the ring is full. */
  tryClaim(length: number): Claim | null {
    this.assertOpen();
    if (this.claimOpen || this.queued !== 0) return null;
    return this.reserveClaim(length, () => {}, false);
  }

  private reserveClaim(length: number, onClose: () => void, wait = true): Claim | null {
    const at = this.writer.reserve(length, wait);
    if (at < 0) return null;
    this.claimOpen = true;
    const writer = this.writer;
    let done = false;
    const close = () => {
      done = true;
      this.claimOpen = false;
      onClose();
    };
    return {
      bytes: this.ring.bytes.subarray(at, at + length),
      commit: (len = length) => {
        if (done) throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'This claim was already committed or aborted', 'Claim again for the next message');
        try {
          // Closed meanwhile: the segment is gone from this process, the claim with it.
          this.assertOpen();
          return writer.commit(len);
        } finally {
          close();
        }
      },
      abort: () => {
        if (done) return;
        if (!this.closed && !this.channel.isClosed) writer.abort();
        close();
      },
    };
  }

  /**
   * Reserves `length` bytes for in-place filling, waiting off the event loop while the ring
   * is full or earlier async writes of this endpoint are pending (they go in call order).
   */
  async claim(length: number, options: SendOptions & IdleOptions = {}): Promise<Claim> {
    const release = await this.takeTurn();
    try {
      for (;;) {
        this.assertOpen();
        const c = this.reserveClaim(length, release, false);
        if (c) return c;
        await waitAsync(this.ring.space, () => this.roomFor(length), this.spaceWait(options));
      }
    } catch (err) {
      release();
      throw err;
    }
  }

  private spaceWait(options: SendOptions & IdleOptions): WaitOptions {
    return {
      idle: options.idle,
      spinMicros: options.spinMicros,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      what: 'space in the ring (a slow subscriber)',
      onSlice: this.reclaim,
    };
  }

  private readonly reclaim = (): void => void this.reclaimStalled();

  private roomFor(length: number): boolean {
    if (this.closed || this.channel.isClosed) return true;
    const at = this.writer.reserve(length, false);
    if (at < 0) return false;
    this.writer.abort();
    return true;
  }

  /** A blocked writer frees the slots of dead subscribers holding it back; true when it freed any. */
  protected reclaimStalled(): boolean {
    if (this.closed || this.channel.isClosed || this.ring.shared) return false;
    let freed = false;
    for (const slot of this.ring.slowest()) freed = this.channel.reclaimIfDead(slot) || freed;
    if (freed) this.writer.invalidateFloor();
    return freed;
  }
}

export class Publisher extends WriterEndpoint {
  constructor(channel: SlotHost, ring: RingView, options: PublisherOptions = {}) {
    super(channel, ring, channel.claimSlot('publisher', ring.index), 'publisher', options.exclusive);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.channel.isClosed) this.writer.close();
    this.channel.releaseSlot(this.slot);
  }
}

export class Subscriber implements AsyncIterable<Uint8Array> {
  private readonly reader: SubscriberReader;
  private readonly idle: IdleStrategy;
  private readonly pause = new AdaptivePause();
  private closed = false;

  /** A durable subscriber's slot was left by an earlier owner: reading goes on from that owner's released progress. */
  readonly adopted: boolean;

  /** `durable`: the node agent's place in the ring (Channel.durableSubscriber). */
  constructor(
    private readonly channel: SlotHost,
    private readonly ring: RingView,
    private readonly options: IdleOptions,
    durable?: { id: number; takeOver: boolean },
  ) {
    this.idle = checkIdle(options.idle);
    if (durable) {
      const { slot, adopted } = channel.claimDurableSlot('subscriber', ring.index, durable.id, durable.takeOver, (s) =>
        ring.table.setWord(s, SlotWord.cursor, Atomics.load(ring.ctl, RingWord.tail)),
      );
      this.adopted = adopted;
      this.reader = new SubscriberReader(ring, slot, adopted);
    } else {
      this.adopted = false;
      this.reader = new SubscriberReader(ring, channel.claimSlot('subscriber', ring.index));
    }
  }

  /** Whether handlers see the ring's records in place (block policy; overwrite hands out copies), a record's head just before `offset`. */
  get inPlace(): boolean {
    return this.ring.blocking;
  }

  /** A batch landed from a peer that polls step over without handing it out (SubscriberReader.skipWhenAt): the node agent's own subscriber. */
  skipLanded(from: number, to: number, count: number): void {
    this.reader.skipWhenAt(from, to, count);
  }

  /** Where reading goes on (past what pollHeld() holds). */
  position(): ReaderPosition {
    return this.reader.position();
  }

  /** Skips forward to a position this place had read up to (SubscriberReader.resumeAt); false when it is not one. */
  resumeAt(to: ReaderPosition): boolean {
    this.assertOpen();
    return this.reader.resumeAt(to);
  }

  /** As poll(), but the block policy's ring space stays held until release() or the next poll. */
  pollHeld(handler: MessageHandler, max?: number): number {
    this.assertOpen();
    const n = this.reader.pollHeld(handler, max);
    this.pause.observe(n);
    return n;
  }

  /** Detaches from a durable slot and leaves it, with its place in the ring, to the next owner. */
  leave(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.leaveSlot(this.reader.slot);
  }

  private assertOpen(): void {
    if (this.closed || this.channel.isClosed) throw closedError(this.channel, 'subscriber');
  }

  /** Messages this subscriber missed because the overwrite policy lapped it. */
  get lost(): number {
    return this.reader.lost;
  }

  get delivered(): number {
    return this.reader.delivered;
  }

  /**
   * Zero-copy read: calls `handler(bytes, offset, length, seq)` for up to `max` available
   * messages and returns how many. The bytes are valid only during the call. Under the
   * overwrite policy they are a validated private copy instead.
   */
  poll(handler: MessageHandler, max?: number): number {
    this.assertOpen();
    const n = this.reader.poll(handler, max);
    this.pause.observe(n);
    return n;
  }

  /**
   * Zero-copy batch read without a call per message: takes up to `max` available messages
   * (at most `batch.capacity`) into `batch` and returns how many. Under the block policy
   * they stay in the ring, holding its space, until the next poll, pollBatch or release().
   */
  pollBatch(batch: RecordBatch, max?: number): number {
    this.assertOpen();
    const n = this.reader.pollBatch(batch, max);
    this.pause.observe(n);
    return n;
  }

  /** Gives the ring space of the last pollBatch() back to publishers now. */
  release(): void {
    this.assertOpen();
    this.reader.release();
  }

  /**
   * `for await (const batch of sub.batches())`: the same RecordBatch, refilled with each
   * step's messages (valid until the next step), until close() or the signal aborts.
   */
  async *batches(options: { signal?: AbortSignal; capacity?: number } = {}): AsyncGenerator<RecordBatch> {
    const batch = new RecordBatch(options.capacity);
    while (!this.closed && !this.channel.isClosed) {
      if (this.reader.pollBatch(batch) === 0) {
        if (!(await unlessAborted(this.wait(options)))) return;
        continue;
      }
      yield batch;
    }
  }

  /** The next message as a copy, or null when none is available. */
  receive(): Uint8Array | null {
    this.assertOpen();
    let out: Uint8Array | null = null;
    this.reader.poll((bytes, offset, length) => {
      out = bytes.slice(offset, offset + length);
    }, 1);
    return out;
  }

  private ready = (): boolean => this.closed || this.channel.isClosed || this.reader.hasData();

  /** Blocks this thread until a message arrives (or the timeout), then returns a copy. */
  receiveSync(options: SendOptions = {}): Uint8Array {
    for (;;) {
      const msg = this.receive();
      if (msg) return msg;
      waitSync(this.ring.data, this.ready, this.waitOptions(options));
    }
  }

  /** Built field by field: object spread here cost microseconds per wait (measured). */
  private waitOptions(options: SendOptions): WaitOptions {
    return {
      idle: this.idle,
      spinMicros: this.options.spinMicros,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      what: 'a message',
      onSlice: this.beat,
      pauseIterations: this.pause.iterations,
    };
  }

  private readonly beat = (): void => this.reader.heartbeat();

  /** Whether a message is there to read now. */
  hasMessages(): boolean {
    return !this.closed && !this.channel.isClosed && this.reader.hasData();
  }

  /** Blocks until messages are available (or the timeout); never consumes. */
  waitSync(options: SendOptions = {}): void {
    this.assertOpen();
    this.pause.beforeWait();
    if (!this.reader.hasData()) waitSync(this.ring.data, this.ready, this.waitOptions(options));
  }

  /** Waits off the event loop until messages are available. */
  async wait(options: SendOptions = {}): Promise<void> {
    this.assertOpen();
    this.pause.beforeWait();
    if (this.reader.hasData()) return;
    const onAbort = () => this.ring.data.poke();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await waitAsync(this.ring.data, this.ready, this.waitOptions(options));
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The next message as a copy, waiting off the event loop. */
  async next(options: SendOptions = {}): Promise<Uint8Array> {
    for (;;) {
      const msg = this.receive();
      if (msg) return msg;
      await this.wait(options);
    }
  }

  /** `for await (const msg of sub)`: copies, in order, until close() or the signal aborts. */
  async *messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const batch: Uint8Array[] = [];
    const collect: MessageHandler = (bytes, offset, length) => {
      batch.push(bytes.slice(offset, offset + length));
    };
    while (!this.closed && !this.channel.isClosed) {
      this.reader.poll(collect, 256);
      if (batch.length === 0) {
        if (!(await unlessAborted(this.wait(options)))) return;
        continue;
      }
      for (const m of batch) yield m;
      batch.length = 0;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.messages();
  }

  /**
   * Holds the ring's publishers back while `hold`, as if the ring were full (RingWord.gate):
   * for the node agent's subscriber, while its peers have not acknowledged enough, so that
   * what its node publishes never fills the ring ahead of what the peers send, which it must
   * land. Writers see it within a ring's worth of writing; a dead holder holds nobody back.
   * Block policy only.
   */
  holdPublishers(hold: boolean): void {
    this.assertOpen();
    if (!this.ring.blocking) return;
    const token = this.ring.table.token(this.reader.slot);
    if (hold) Atomics.store(this.ring.ctl, RingWord.gate, token);
    else this.letPublishersGo(token);
  }

  private letPublishersGo(token: number): void {
    if (Atomics.compareExchange(this.ring.ctl, RingWord.gate, token, 0) === token) this.ring.space.wakeIfWaiting();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.channel.isClosed) this.letPublishersGo(this.ring.table.token(this.reader.slot));
    this.channel.releaseSlot(this.reader.slot);
    this.ring.data.poke();
  }
}

/** One side of a bidirectional stream. Use `toDuplex()` from the client for a Node stream. */
export class StreamEnd extends WriterEndpoint {
  private readonly reader: StreamReader;
  private readonly idle: IdleStrategy;

  constructor(
    channel: SlotHost,
    readonly side: StreamSide,
    out: RingView,
    readonly inbound: RingView,
    private readonly options: IdleOptions,
  ) {
    super(channel, out, channel.claimSlot('streamEnd', out.index), `stream end ${side}`);
    this.idle = checkIdle(options.idle);
    this.reader = new StreamReader(inbound, channel.lockFor(inbound.index, 'read', this.slot));
  }

  /** Takes up to `max` messages (each to exactly one consumer of this side). */
  take(max: number, deliver: (message: Buffer, seq: number) => void): number {
    this.assertOpen();
    return this.reader.take(max, deliver);
  }

  private ready = (): boolean => this.closed || this.channel.isClosed || this.reader.hasData();

  async waitForMessages(options: SendOptions = {}): Promise<void> {
    this.assertOpen();
    if (this.reader.hasData()) return;
    await waitAsync(this.inbound.data, this.ready, this.waitOptions(options));
  }

  waitForMessagesSync(options: SendOptions = {}): void {
    this.assertOpen();
    if (!this.reader.hasData()) waitSync(this.inbound.data, this.ready, this.waitOptions(options));
  }

  private waitOptions(options: SendOptions): WaitOptions {
    return { idle: this.idle, spinMicros: this.options.spinMicros, timeoutMs: options.timeoutMs, signal: options.signal, what: 'a stream message' };
  }

  /** Wakes a pending waitForMessages (used on destroy). */
  interrupt(): void {
    this.inbound.data.poke();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.releaseSlot(this.slot);
    this.inbound.data.poke();
  }
}
