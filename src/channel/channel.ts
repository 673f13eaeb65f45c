/**
 * A channel segment on this host: create, attach (with header and identity checks), inspect,
 * remove, and hand out publishers, subscribers and stream ends.
 */
import { existsSync } from 'node:fs';
import { ErrorCode, ShimmyError } from '../errors.js';
import { MemoryFile } from '../shm/memory-file.js';
import { Segment, formatKey, type SegmentId, type SegmentOwner, type SegmentPerms } from '../shm/segment.js';
import type { SharedMemory } from '../shm/shared-memory.js';
import { listSysvShm } from '../shm/sysvipc.js';
import { DEFAULTS, HeaderWord, RingWord, initHeader, readHeader, segmentBytes, validateConfig, type ChannelConfig, type HeaderInfo } from './layout.js';
import { RecoverableLock } from './lock.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS } from './liveness.js';
import { channelKey, fnv1a, identityOf, refOfIdentity, validateRef, type ChannelRef } from './names.js';
import { DURABLE, DURABLE_STATE_WORDS, ParticipantTable, SlotWord, type RoleName } from './participants.js';
import { RingView } from './ring-view.js';
import { Publisher, StreamEnd, Subscriber, type PublisherOptions, type StreamSide } from './endpoints.js';
import type { IdleOptions } from './idle.js';
import type { SlotHost, StateWords } from './slot-host.js';
import { Lander } from './lander.js';
import { StreamTaker } from './stream-taker.js';
import { settleNote } from './take-note.js';
import { checkSegmentOwner, checkSegmentTrust } from './segment-trust.js';

/** Settings of this process's view of a channel; nothing here is stored in the segment. */
export interface AttachOptions {
  /**
   * How long a participant in another PID namespace may go without a heartbeat before this
   * process counts it as dead and frees its slot or takes its lock over. Default 5000 ms
   * (HEARTBEAT_TIMEOUT_MS); participants beat every 250 ms. Tests shorten it.
   */
  heartbeatTimeoutMs?: number;
  /**
   * A hardened System V channel (the agent's, in a cluster): the segment's creator and owner
   * must be this uid and gid and others must have no access, or open refuses it
   * (UNTRUSTED_SEGMENT); create makes the segment so.
   */
  owner?: SegmentOwner;
}

export interface CreateOptions extends Partial<ChannelConfig>, AttachOptions {
  /** Segment permission bits; default 0o660. */
  permissions?: number;
}

function heartbeatTimeout(options: AttachOptions): number {
  const ms = options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= HEARTBEAT_INTERVAL_MS) {
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      `heartbeatTimeoutMs ${ms} is not longer than the heartbeat interval of ${HEARTBEAT_INTERVAL_MS} ms`,
      `Use several heartbeat intervals (the default is ${HEARTBEAT_TIMEOUT_MS} ms)`,
    );
  }
  return ms;
}

/** One Shimmy segment on this host, as Channel.inventory() finds it. */
export interface SegmentEntry {
  key: number;
  shmId: number;
  /** Processes attached (the kernel's count, read before this process attached to look). */
  attached: number;
  sizeBytes: number;
  ref: ChannelRef;
  header: HeaderInfo;
  /** Creator, owner and mode, from IPC_STAT. */
  perms: SegmentPerms;
}

export interface ChannelStats {
  namespace: string;
  name: string;
  key: string;
  /** The System V segment's id; null for a memory file. */
  shmId: number | null;
  /** Where the channel's memory is: `segment 0x… (id …)` or `memory file <path>`. */
  memory: string;
  mode: ChannelConfig['mode'];
  slowConsumer: ChannelConfig['slowConsumer'];
  capacity: number;
  maxMessage: number;
  sizeBytes: number;
  /** Processes attached, as the kernel counts them (System V); null for a memory file, where it does not. */
  attached: number | null;
  publishers: number;
  subscribers: number;
  streamEnds: number;
  messages: number;
  /** Largest number of published messages some subscriber (or stream side) has yet to take. */
  lag: number;
  lost: number;
  /** Each ring's write position (bytes, 32-bit, wraps): the difference of two readings is the bytes written between them. */
  tails: number[];
  createdAt: string;
}

function segmentId(ref: ChannelRef): SegmentId {
  return { key: channelKey(ref), label: `${ref.namespace}/${ref.name}` };
}

/** Channels open in this process: one that exits with a wait pending takes its count back (Notifier). */
const liveChannels = new Set<Channel>();
let exitWatched = false;
function watchExit(channel: Channel): void {
  liveChannels.add(channel);
  if (exitWatched) return;
  exitWatched = true;
  process.once('exit', () => {
    for (const ch of liveChannels) ch.forgetWaits();
  });
}

export class Channel implements SlotHost {
  readonly ref: ChannelRef;
  readonly header: HeaderInfo;
  readonly key: number;
  readonly table: ParticipantTable;
  readonly rings: RingView[];
  private readonly segment: SharedMemory;
  private readonly ownSlots = new Map<number, number>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private removedSince: number | null = null;
  /** Endpoints were made, so claims and zero-copy views into the segment may outlive close(). */
  private endpointsMade = false;
  private closed = false;

  private constructor(ref: ChannelRef, segment: SharedMemory, header: HeaderInfo, heartbeatTimeoutMs: number) {
    this.ref = ref;
    this.key = channelKey(ref);
    this.segment = segment;
    this.header = header;
    this.table = new ParticipantTable(segment.buffer, header.maxParticipants, header.createdAtMs, heartbeatTimeoutMs);
    const blocking = header.slowConsumer === 'block';
    const shared = header.mode === 'stream';
    this.rings = [];
    for (let r = 0; r < (shared ? 2 : 1); r++) {
      this.rings.push(
        new RingView(segment, {
          index: r,
          dataOffset: header.headerBytes + r * header.capacity,
          capacity: header.capacity,
          maxMessage: header.maxMessage,
          blocking,
          shared,
          table: this.table,
          label: `${ref.namespace}/${ref.name}`,
        }),
      );
    }
    watchExit(this);
  }

  /** Creates the channel's segment on this host. Fails with SEGMENT_EXISTS if present. */
  static create(ref: ChannelRef, options: CreateOptions = {}): Channel {
    return Channel.initialize(ref, options, (bytes, permissions) => Segment.create(segmentId(ref), bytes, permissions, options.owner));
  }

  /** Validates the settings, makes the memory with `allocate` and writes the channel's header into it. */
  private static initialize(ref: ChannelRef, options: CreateOptions, allocate: (bytes: number, permissions: number) => SharedMemory): Channel {
    validateRef(ref);
    const { permissions, heartbeatTimeoutMs, owner: _owner, ...rest } = options;
    const timeoutMs = heartbeatTimeout({ heartbeatTimeoutMs });
    const cfg = validateConfig({ ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) });
    const memory = allocate(segmentBytes(cfg), permissions ?? 0o660);
    const identity = identityOf(ref);
    initHeader(memory.buffer, cfg, identity, fnv1a(identity));
    return new Channel(ref, memory, readHeader(memory.buffer, `${ref.namespace}/${ref.name}`), timeoutMs);
  }

  /** Attaches to an existing channel; checks layout version and identity. */
  static open(ref: ChannelRef, options: AttachOptions = {}): Channel {
    validateRef(ref);
    const timeoutMs = heartbeatTimeout(options);
    const seg = segmentId(ref);
    const { owner } = options;
    const segment = Segment.attach(seg, (info) => (owner ? checkSegmentOwner(info, owner, seg.key, seg.label) : checkSegmentTrust(info, seg.key, seg.label)));
    return Channel.adopt(ref, segment, timeoutMs, (held, want) => {
      throw new ShimmyError(
        ErrorCode.KEY_COLLISION,
        `Key ${formatKey(seg.key)} is held by channel ${JSON.stringify(held)}, not ${JSON.stringify(want)}`,
        'Two channel identities hash to the same key: rename one of the channels, or remove the stale segment with `ipcrm -M ' + formatKey(seg.key) + '`',
      );
    });
  }

  /**
   * Makes the channel in a new memory file at `path` (the mode without hostIPC; in a cluster
   * the node agent does this on a tmpfs). Other processes map it with openFile(ref, path).
   */
  static createFile(ref: ChannelRef, path: string, options: CreateOptions = {}): Channel {
    return Channel.initialize(ref, options, (bytes, permissions) => MemoryFile.create(path, bytes, permissions));
  }

  /** Maps the channel's memory file at `path` (in a pod: where the node agent mounted it); checks layout and identity. */
  static openFile(ref: ChannelRef, path: string, options: AttachOptions = {}): Channel {
    validateRef(ref);
    const timeoutMs = heartbeatTimeout(options);
    const file = MemoryFile.attach(path);
    return Channel.adopt(ref, file, timeoutMs, (held, want) => {
      throw new ShimmyError(
        ErrorCode.KEY_COLLISION,
        `Memory file ${path} holds channel ${JSON.stringify(held)}, not ${JSON.stringify(want)}`,
        'Open the file of the channel you mean (in a pod, the SHIMMY_CHANNEL_<NAME>_FILE variable names it)',
      );
    });
  }

  /** Where this channel's memory lives: a System V segment or a memory file. */
  get memory(): 'segment' | 'file' {
    return this.segment instanceof MemoryFile ? 'file' : 'segment';
  }

  /** Removes the memory file's name (openFile then fails); processes that have it mapped end with CLOSED. */
  static removeFile(path: string): void {
    MemoryFile.remove(path);
  }

  private static adopt(ref: ChannelRef, memory: SharedMemory, timeoutMs: number, mismatch: (held: string, want: string) => never): Channel {
    try {
      const header = Channel.readHeaderWhenReady(memory, `${ref.namespace}/${ref.name}`);
      const want = identityOf(ref);
      if (header.identity !== want) mismatch(header.identity, want);
      return new Channel(ref, memory, header, timeoutMs);
    } catch (err) {
      memory.detach();
      throw err;
    }
  }

  /** Attaches, or creates with `options` when absent; an existing channel keeps its settings. */
  static openOrCreate(ref: ChannelRef, options: CreateOptions = {}): Channel {
    const local: AttachOptions = { heartbeatTimeoutMs: options.heartbeatTimeoutMs, ...(options.owner ? { owner: options.owner } : {}) };
    try {
      return Channel.open(ref, local);
    } catch (err) {
      if (!(err instanceof ShimmyError) || err.code !== ErrorCode.SEGMENT_NOT_FOUND) throw err;
    }
    try {
      return Channel.create(ref, options);
    } catch (err) {
      if (err instanceof ShimmyError && err.code === ErrorCode.SEGMENT_EXISTS) return Channel.open(ref, local);
      throw err;
    }
  }

  /**
   * Attaches once the segment exists (someone else, the node agent, makes it), polling every
   * 100 ms for up to `timeoutMs`; then fails with SEGMENT_NOT_FOUND and `hint`.
   */
  static async openWhenPresent(
    ref: ChannelRef,
    options: AttachOptions & { timeoutMs: number; hint: string; signal?: AbortSignal; file?: string },
  ): Promise<Channel> {
    validateRef(ref);
    const { key, label } = segmentId(ref);
    const { file } = options;
    const until = Date.now() + options.timeoutMs;
    const local = { heartbeatTimeoutMs: options.heartbeatTimeoutMs };
    // A hardened channel's key may hold a squat, which the agent replaces within a pass: wait for its segment.
    let untrusted: ShimmyError | undefined;
    for (;;) {
      if (options.signal?.aborted) throw new ShimmyError(ErrorCode.ABORTED, `Stopped waiting for channel ${label}`, 'The wait was aborted');
      if (file ? existsSync(file) : Segment.lookup(key) !== null) {
        if (file) return Channel.openFile(ref, file, local);
        try {
          return Channel.open(ref, { ...local, ...(options.owner ? { owner: options.owner } : {}) });
        } catch (err) {
          if (!(err instanceof ShimmyError) || err.code !== ErrorCode.UNTRUSTED_SEGMENT || !options.owner) throw err;
          untrusted = err;
        }
      }
      if (Date.now() >= until) {
        throw (
          untrusted ??
          new ShimmyError(
            ErrorCode.SEGMENT_NOT_FOUND,
            `Channel ${label} has no ${file ? `memory file at ${file}` : 'segment'} on this node after ${Math.round(options.timeoutMs / 1000)} s`,
            options.hint,
          )
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Marks the channel's segment for removal. Returns false when there was none. */
  static remove(ref: ChannelRef): boolean {
    const seg = segmentId(ref);
    const id = Segment.lookup(seg.key);
    if (id === null) return false;
    Segment.remove(seg, id);
    return true;
  }

  /**
   * Every Shimmy channel on this host that this process may attach to, found through
   * /proc/sysvipc/shm and recognized by the header's magic.
   */
  static list(): ChannelRef[] {
    return Channel.inventory()
      .map((e) => e.ref)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  /** Like list(), with each segment's key, id, kernel attach count and header. */
  static inventory(): SegmentEntry[] {
    const out: SegmentEntry[] = [];
    for (const { key, id, attached, size } of listSysvShm()) {
      if (key === 0) continue;
      let segment: Segment;
      let perms: SegmentEntry['perms'] | undefined;
      try {
        segment = Segment.attach({ key, label: formatKey(key) }, ({ uid, creatorUid, gid, creatorGid, mode }) => {
          perms = { uid, creatorUid, gid, creatorGid, mode };
        });
      } catch {
        continue;
      }
      try {
        const header = readHeader(segment.buffer, formatKey(key));
        const ref = refOfIdentity(header.identity);
        // Our own attachment is not one of the segment's users.
        if (ref) out.push({ key, shmId: id, attached: Math.max(0, attached), sizeBytes: size, ref, header, perms: perms! });
      } catch {
        // not a Shimmy segment, or a damaged one: `ipcs -m` shows it
      } finally {
        segment.detach();
      }
    }
    return out;
  }

  /** Marks the segment `shmId` (key `key`) for removal; attached processes keep their mapping. */
  static removeSegment(key: number, shmId: number, label: string): void {
    Segment.remove({ key, label }, shmId);
  }

  private static readHeaderWhenReady(segment: SharedMemory, label: string): HeaderInfo {
    const magic = new Uint32Array(segment.buffer, 0, 1);
    const until = Date.now() + 1000;
    while (Atomics.load(magic, HeaderWord.magic) === 0 && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
    return readHeader(segment.buffer, label);
  }

  /** Closed by close(), or its segment was removed under it (`channel rm`, the agent). */
  get isClosed(): boolean {
    return this.closed || this.removedSince !== null;
  }

  /** Claims a participant slot for one of our endpoints and keeps its heartbeat going. */
  claimSlot(role: RoleName, ring: number): number {
    this.assertOpen();
    const slot = this.table.claim(role, ring, (s) => this.table.setWord(s, SlotWord.cursor, Atomics.load(this.rings[ring]!.ctl, RingWord.tail)));
    this.own(slot);
    return slot;
  }

  /** Takes over the durable slot `durableId` left by a dead owner (adopted: its state words are as it left them), or claims a new one. */
  claimDurableSlot(role: RoleName, ring: number, durableId: number, takeOver = false, init?: (slot: number) => void): { slot: number; adopted: boolean } {
    this.assertOpen();
    const got = this.table.claimDurable(role, ring, durableId, takeOver, init);
    this.own(got.slot);
    return got;
  }

  /** Stops heartbeating and owning a durable slot without freeing it: the next owner adopts it. */
  leaveSlot(slot: number): void {
    this.ownSlots.delete(slot);
  }

  stateWords(slot: number): StateWords {
    return {
      count: DURABLE_STATE_WORDS.length,
      get: (i) => this.table.word(slot, DURABLE_STATE_WORDS[i]!),
      set: (i, value) => this.table.setWord(slot, DURABLE_STATE_WORDS[i]!, value),
    };
  }

  private own(slot: number): void {
    this.endpointsMade = true;
    this.ownSlots.set(slot, this.table.word(slot, SlotWord.gen));
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => this.beat(), HEARTBEAT_INTERVAL_MS);
      this.heartbeatTimer.unref();
    }
  }

  reclaimIfDead(slot: number): boolean {
    return this.table.reclaimIfDead(slot);
  }

  releaseSlot(slot: number): void {
    const gen = this.ownSlots.get(slot);
    if (gen === undefined) return;
    this.ownSlots.delete(slot);
    this.table.release(slot, gen);
  }

  lockFor(ring: number, which: 'write' | 'read', slot: number): RecoverableLock {
    const index = which === 'write' ? RingWord.writeLock : RingWord.readLock;
    const view = this.rings[ring]!;
    const token = this.table.token(slot);
    const conflict = () => {
      const holder = Atomics.load(view.ctl, RingWord.exclusiveWriter);
      if (which === 'read' || holder === 0 || holder === token || this.table.tokenHolderDead(holder)) return null;
      return new ShimmyError(
        ErrorCode.PUBLISHER_CONFLICT,
        `Channel ${this.ref.namespace}/${this.ref.name} has an exclusive publisher (pid ${this.table.word(this.table.slotOf(holder)!, SlotWord.pid)})`,
        'Publish from that process, or make it a shared publisher (publisher() without exclusive)',
      );
    };
    // A node agent that died mid-take left a note in its durable slot: the reader taking its lock over settles it first.
    const settle = (dead: number) => {
      const deadSlot = this.table.slotOf(dead);
      if (which === 'read' && deadSlot !== null && this.table.word(deadSlot, SlotWord.durable) === DURABLE) settleNote(this.stateWords(deadSlot), view.ctl);
    };
    return new RecoverableLock(view.ctl, index, this.segment.wordAddress(view.ctl.byteOffset + index * 4), this.table, token, conflict, settle);
  }

  private beat(): void {
    const now = this.table.now();
    for (const [slot, gen] of this.ownSlots) {
      if (this.table.word(slot, SlotWord.gen) === gen) this.table.setWord(slot, SlotWord.heartbeat, now);
    }
    this.checkRemoved();
  }

  /**
   * A removed segment stays mapped until every process detaches, but nobody new can find it:
   * a channel created again under the same name gets a new segment, so traffic here would
   * never reach it. Our endpoints stop with CLOSED instead.
   */
  private checkRemoved(): void {
    if (this.removedSince !== null || this.closed) return;
    if (!this.segment.removed()) return;
    this.removedSince = Date.now();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const r of this.rings) {
      r.data.poke();
      r.space.poke();
    }
  }

  /** The error for an endpoint used after the segment was removed; null while it was not. */
  removedError(): ShimmyError | null {
    if (this.removedSince === null) return null;
    return new ShimmyError(
      ErrorCode.CLOSED,
      `The memory of channel ${this.ref.namespace}/${this.ref.name} (${this.segment.description}) was removed at ${new Date(this.removedSince).toISOString()} (\`shimmy channel rm\`, or the node agent once no endpoint wanted it)`,
      'Open the channel again: a channel created again under that name has a new segment',
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new ShimmyError(ErrorCode.CLOSED, `Channel ${this.ref.namespace}/${this.ref.name} is closed`, 'Open it again');
  }

  private assertMode(mode: ChannelConfig['mode'], what: string): void {
    if (this.header.mode !== mode) {
      throw new ShimmyError(
        ErrorCode.WRONG_MODE,
        `Channel ${this.ref.namespace}/${this.ref.name} is a ${this.header.mode} channel; ${what} needs ${mode}`,
        mode === 'stream' ? 'Use publisher()/subscriber() on pub/sub channels' : 'Use stream() on stream channels',
      );
    }
  }

  /**
   * A publisher. `exclusive: true` promises it is the channel's only publisher: it holds the
   * write lock until close(), which saves a lock round-trip per message; other publishers
   * then fail with PUBLISHER_CONFLICT (until it closes or dies).
   */
  publisher(options: PublisherOptions = {}): Publisher {
    this.assertMode('pubsub', 'a publisher');
    return new Publisher(this, this.rings[0]!, options);
  }

  /**
   * The node agent's publisher for what it lands from another node (lander.ts); `durableId`
   * names the peer. `takeOver`: the caller knows the slot's earlier owner is gone (it holds
   * the node's agent lock), so the slot is adopted without waiting for that owner's heartbeat to stop.
   */
  lander(durableId: number, takeOver = false, ring = 0): Lander {
    return new Lander(this, this.ringAt(ring), durableId, takeOver);
  }

  /**
   * The node agent's consumer of stream ring `ring`, for the peers' consumers (stream-taker.ts),
   * in durable slot `durableId`; `takeOver`: the caller is the node's only agent.
   */
  streamTaker(ring: number, durableId: number, takeOver = false): StreamTaker {
    this.assertMode('stream', 'a stream taker');
    return new StreamTaker(this, this.ringAt(ring), durableId, takeOver);
  }

  private ringAt(ring: number): RingView {
    const view = this.rings[ring];
    if (!view)
      throw new ShimmyError(
        ErrorCode.INVALID_ARGUMENT,
        `Channel ${this.ref.namespace}/${this.ref.name} has no ring ${ring}`,
        `Its rings are 0 to ${this.rings.length - 1}`,
      );
    return view;
  }

  subscriber(options: IdleOptions = {}): Subscriber {
    this.assertMode('pubsub', 'a subscriber');
    return new Subscriber(this, this.rings[0]!, options);
  }

  /**
   * The node agent's subscriber, in durable slot `durableId`: its place in the ring outlives
   * it (publishers wait for it as for any subscriber under Block), and the next agent adopts it
   * (`adopted`) and reads on from there. `takeOver` as for lander(). A place nobody has
   * heartbeated for DURABLE_READER_TIMEOUT_MS is let go.
   */
  durableSubscriber(durableId: number, takeOver = false): Subscriber {
    this.assertMode('pubsub', 'a subscriber');
    return new Subscriber(this, this.rings[0]!, {}, { id: durableId, takeOver });
  }

  /** One end of a stream: side 'a' writes ring 0 and reads ring 1, side 'b' the reverse. */
  streamEnd(side: StreamSide, options: IdleOptions = {}): StreamEnd {
    this.assertMode('stream', 'a stream end');
    const out = side === 'a' ? 0 : 1;
    return new StreamEnd(this, side, this.rings[out]!, this.rings[1 - out]!, options);
  }

  stats(): ChannelStats {
    const slots = this.table.snapshot().filter((s) => s.alive);
    const count = (role: RoleName) => slots.filter((s) => s.role === role).length;
    const messages = this.rings.reduce((sum, r) => sum + Atomics.load(r.ctl, RingWord.nextSeq), 0);
    let lag = 0;
    let lost = 0;
    if (this.header.mode === 'stream') {
      for (const r of this.rings) lag = Math.max(lag, (Atomics.load(r.ctl, RingWord.nextSeq) - Atomics.load(r.ctl, RingWord.taken)) >>> 0);
    } else {
      const next = Atomics.load(this.rings[0]!.ctl, RingWord.nextSeq);
      for (const s of slots) {
        if (s.role !== 'subscriber') continue;
        lag = Math.max(lag, (next - s.expectedSeq) >>> 0);
        lost += s.lost;
      }
    }
    return {
      namespace: this.ref.namespace,
      name: this.ref.name,
      key: formatKey(this.key),
      shmId: this.segment instanceof Segment ? this.segment.id : null,
      memory: this.segment.description,
      mode: this.header.mode,
      slowConsumer: this.header.slowConsumer,
      capacity: this.header.capacity,
      maxMessage: this.header.maxMessage,
      sizeBytes: this.segment.size,
      attached: this.segment.users(),
      publishers: count('publisher'),
      subscribers: count('subscriber'),
      streamEnds: count('streamEnd'),
      messages,
      lag,
      lost,
      tails: this.rings.map((r) => Atomics.load(r.ctl, RingWord.tail)),
      createdAt: new Date(this.header.createdAtMs).toISOString(),
    };
  }

  /** Frees this process's slots and detaches. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const slot of [...this.ownSlots.keys()]) this.releaseSlot(slot);
    for (const r of this.rings) {
      r.data.poke();
      r.space.poke();
    }
    this.forgetWaits();
    liveChannels.delete(this);
    this.segment.detach(this.endpointsMade);
  }

  /** Takes back the shared counts of this process's pending waits (waits woken by close() return after the detach). */
  forgetWaits(): void {
    for (const r of this.rings) {
      r.data.forget();
      r.space.forget();
    }
  }
}
