/**
 * One node's side of the replication of its channels with the other nodes that have
 * endpoints of them, over one UcxWorker, in one loop on one thread (the agent runs it on a
 * worker thread of its own: replicator-thread.ts).
 *
 * Per channel, the node sends its own messages (those its lander did not publish: LandedSeqs)
 * to every peer, and lands every peer's messages into its ring. Each node connects to each
 * peer and sends on that endpoint only; what it accepts it only receives on. Tags name the
 * channel, the kind (data or acknowledgement) and the sending node (tags.ts).
 *
 * A frame carries a batch of messages (batch.ts: as many as one poll of the ring gives, up to
 * 64 KiB) and its origin's sequence number and epoch (frames.ts). The receiver
 * acknowledges what it landed; the sender keeps each peer's unacknowledged frames, up to the
 * channel's capacity in bytes, and stops reading its ring when a live peer has no room left,
 * which holds the publishers back under Block as a slow local subscriber would. After a failed
 * endpoint (a cut link, a restarted peer) it connects again and sends the unacknowledged
 * frames again; the receiver drops the ones it already landed. A frame that went missing on a
 * live endpoint (a large one cut off mid-transfer, a gap) is asked for again (FLAG_RESEND on an
 * acknowledgement). A channel no longer wanted sends and lands what is in flight before it is
 * let go. A peer unreachable for longer
 * than `peerTimeoutMs` is dropped: its frames are let go and the channel no longer waits for
 * it; it is taken back when it answers again, from the messages published after that.
 *
 * A stream channel is two lanes, one per ring, each with tags of its own. A lane's frames go
 * to one peer each, not to all: the peer asks for them when its consumers of that ring are
 * idle (demand.ts), and this node's StreamTaker takes that many of its own messages from the
 * ring, in turn with its consumers. Each peer's frames have their own sequence numbers, and
 * their own spool, which the taker commits each frame to before the cursor moves past its
 * messages (take-note.ts).
 */
import type { Channel } from '../channel/channel.js';
import type { Subscriber } from '../channel/endpoints.js';
import type { Lander } from '../channel/lander.js';
import type { FrameSink, StreamTaker } from '../channel/stream-taker.js';
import type { Notifier } from '../channel/notifier.js';
import { FutexWatcher } from '../shm/futex-watcher.js';
import type { MessageHandler } from '../channel/subscriber-reader.js';
import { fnv1a, type ChannelRef } from '../channel/names.js';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, isShimmyError, ShimmyError } from '../errors.js';
import { ALL, DEMAND_SHIFT, FLAG_DEMAND, FLAG_FROM_HERE, FLAG_RESEND, HEADER_BYTES, Inbound, newEpoch, readHeader, turn, writeHeader } from './frames.js';
import { demandNow, type DemandState } from './demand.js';
import { BatchWriter, frameCapacity } from './batch.js';
import { LandingState } from './landing-state.js';
import { FrameQueue } from './frame-queue.js';
import { Spool, type Recovered, type SpoolSettings } from './spool.js';
import { channelTag } from './tags.js';
import { transportsOf, type UcxPeer, type UcxWorker } from './ucx.js';

const BATCH = 1024;
/**
 * The most messages a pass reads from a pub/sub ring: about a frame and a half of 16-byte ones
 * (64 KiB / 24-byte records). 16-byte messages across two hosts went from 2.3–3.2 M/s (1,024)
 * to 2.8–4.5 M/s, when frames held 20 bytes a message; 16,384 gave 3.0 M/s.
 */
const RING_READ = 4096;
/**
 * An idle pass waits on the link for IDLE_MIN_US, twice as long after each idle pass up to
 * IDLE_MAX_US (ReplicatorOptions.idleUs): it wakes at once for the network, and for a write
 * into a ring it reads (FutexWatcher), and a long-idle loop otherwise wakes a thousand times a
 * second for its timers.
 */
const IDLE_MIN_US = 50;
const IDLE_MAX_US = 1000;
/** An acknowledgement goes back at least every this many landed frames, and whenever the inbox runs dry. */
const ACK_EVERY = 256;
const ACK_BYTES = 16;
const HEALTH_CHECK_MS = 500;
/** At most one request to send again per peer and channel this often, while frames are missing. */
const RESEND_REQUEST_MS = 200;
/** A peer that left (or a channel no longer wanted) is let go once nothing has arrived from it for this long. */
const QUIET_MS = 2000;
const FINISHED_KEPT = 256;
const REJECT_LOG_MS = 10_000;
/** The durable id of the agent's subscriber slot (one per pub/sub channel and node). */
const REPLICATOR_READER = fnv1a('shimmy-replicator');
/** The durable id of the agent's stream taker slot (one per stream ring and node). */
const STREAM_TAKER = fnv1a('shimmy-stream-taker');
/** A stream lane's spool commits no place in a ring: the take note holds it (take-note.ts). */
const NO_RING = { cursor: 0, expectedSeq: 0 };

/** A channel this node replicates, and the nodes it replicates it with. */
export interface ReplicatedChannel {
  ref: ChannelRef;
  /** The channel's System V key (the same on every node): its tags on the link. */
  key: number;
  maxMessage: number;
  /** The most bytes of frames kept for one peer until it acknowledges them (the channel's capacity). */
  windowBytes: number;
  peers: string[];
  /** memory: Volume: the channel's memory file on this node (System V otherwise). */
  file?: string;
  /** pubsub when left out. */
  mode?: 'pubsub' | 'stream';
}

export interface PeerAddress {
  node: string;
  ip: string;
  port: number;
}

export interface ReplicatorConfig {
  channels: ReplicatedChannel[];
  /** Where each peer node's replicator listens; a peer without an address waits for one. */
  addresses: PeerAddress[];
}

export type LinkState = 'Connected' | 'Connecting' | 'Dropped';

export interface LinkReport {
  node: string;
  state: LinkState;
  /** UCX's transports on the endpoint, e.g. "tcp/eth0" or "rc_mlx5/mlx5_0:1". */
  transport?: string;
  /** Connections made again after one failed. */
  reconnects: number;
  lastError?: string;
}

export interface ChannelPeerReport {
  peer: string;
  /** This node's messages sent to the peer (first sends). */
  forwarded: number;
  /** Frames sent again after a reconnect. */
  resent: number;
  /** The peer's messages published into this node's ring. */
  landed: number;
  /** Frames that came again and were dropped (the resends of ones already landed). */
  repeats: number;
  /** Frames kept until the peer acknowledges them. */
  unacknowledged: number;
  /** The peer's messages it let go while it had dropped this node, as seen by the gap. */
  skipped: number;
  /** Times the peer's sender started over (a restarted agent). */
  restarts: number;
  /** Times frames from the peer went missing and were asked for again. */
  resendRequests: number;
  /** Messages under the peer's tags dropped unread: no valid MAC under the cluster's replication key, or too long. */
  rejected: number;
  /** Times this node went on from what an earlier agent had landed from the peer (an agent restarted, or killed). */
  resumes: number;
  /** This node's messages for the peer that an earlier agent had framed and left in the spool unacknowledged, sent again by this one. */
  recovered: number;
}

export interface ReplicatorReport {
  links: LinkReport[];
  /** By `namespace/name`. */
  channels: Record<string, ChannelPeerReport[]>;
  /** Channels configured but not open yet, with why. */
  waiting: Record<string, string>;
  /** Channels let go lately, with their last counters (so none of their messages go uncounted). */
  finished: Record<string, ChannelPeerReport[]>;
}

export interface ReplicatorOptions {
  node: string;
  /** Opened with the cluster's replication key (UcxOptions.key): a replicator refuses a worker without one. */
  worker: UcxWorker;
  /** Opens a channel's memory on this node (it must exist: the agent makes it). */
  open: (channel: ReplicatedChannel) => Channel;
  peerTimeoutMs: number;
  /** Whether this process is the node's only agent (it holds the agent lock): it then adopts an earlier agent's landers at once. */
  soleAgent?: () => boolean;
  connectTimeoutMs?: number;
  retryMs?: number;
  /** The first and the longest idle wait, in microseconds (IDLE_MIN_US, IDLE_MAX_US). */
  idleUs?: { min: number; max: number };
  /**
   * Where the spools go (spool.ts: a pub/sub channel's, a stream lane's per peer): a directory
   * that outlives the agent process. With it a killed sending agent loses nothing; without
   * it, unacknowledged frames live in memory only.
   */
  spoolDir?: string;
  /** How long a send may wait for room before the link counts as cut. */
  sendTimeoutMs?: number;
  log?: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;
}

interface Link {
  address: PeerAddress;
  ep: UcxPeer | null;
  state: LinkState;
  since: number;
  attemptAt: number;
  everConnected: boolean;
  reconnects: number;
  transport?: string;
  lastError?: string;
}

interface OutLink {
  peer: string;
  queue: FrameQueue;
  dataTag: bigint;
  ackTag: bigint;
  forwarded: number;
  resent: number;
  /** The highest sequence number sent so far: one at or below it goes out again as a resend. */
  sentUpTo: bigint;
  dropped: boolean;
  /** The peer no longer has the channel: it takes no new frames and goes once its queue is acknowledged. */
  leaving: boolean;
  /** The peer asked for everything from this sequence number again: the first frame sent after it is marked FLAG_FROM_HERE if it is later. */
  resendFrom?: bigint;
  /** A stream lane's frames to this peer are numbered apart from other peers'. */
  seq: bigint;
  /** fnv1a of the peer's name: what a take note names it by (take-note.ts). */
  peerHash: number;
  /** The epoch of the frames to this peer: the channel's, or a stream lane's spool's for the peer. */
  epoch: number;
  /** A stream lane: the frames to this peer until it acknowledges them, in a file that outlives the agent. */
  spool?: Spool;
  /** A stream lane: the messages the peer's consumers asked for and have not been sent yet. */
  credit: number;
  /** Messages in the frames an earlier agent left in the spool for this peer. */
  recovered: number;
}

interface InLink {
  peer: string;
  inbound: Inbound;
  dataTag: bigint;
  ackTag: bigint;
  /** A frame in the inbox waiting for room in the ring for all of it: its sequence number and length. */
  pending: { seq: bigint; length: number } | null;
  view: DataView;
  /** Lands the peer's frames; its durable slot keeps `state` for the next agent. */
  lander: Lander;
  state: LandingState;
  resumes: number;
  unacknowledged: number;
  unacknowledgedBytes: number;
  lastFrameAt: number;
  leaving: boolean;
  resendRequestedAt: number;
  resendRequests: number;
  /** Frames went missing and have not come again yet. */
  missing: boolean;
  rejected: number;
  rejectedLoggedAt: number;
  /** A stream lane: what this node asked the peer for. */
  demand: DemandState;
}

interface Replica {
  spec: ReplicatedChannel;
  /** The channel's `namespace/name`. */
  id: string;
  /** The key in `replicas`: the id, and a stream channel's ring. */
  lane: string;
  ring: number;
  channel: Channel;
  /** A pub/sub channel's reader. */
  sub?: Subscriber;
  /** A stream lane's reader. */
  taker?: StreamTaker;
  capacity: number;
  /** The node's publishers are held back: a live peer has a window of frames it has not acknowledged. */
  holding: boolean;
  /** A pub/sub channel's subscriber read on in the last pass (no peer's window was full). */
  reading: boolean;
  /** The messages read from the ring for the next frame. */
  batch: BatchWriter;
  /** A pub/sub channel's frames until every peer has them, in a file that outlives the agent. */
  spool?: Spool;
  epoch: number;
  seq: bigint;
  outs: Map<string, OutLink>;
  ins: Map<string, InLink>;
  /** No longer wanted on this node: what is in flight still goes out and comes in, then it is let go. */
  drainingSince?: number;
  lastActivity: number;
}

const idOf = (ref: ChannelRef) => `${ref.namespace}/${ref.name}`;
const ringsOf = (spec: ReplicatedChannel) => (spec.mode === 'stream' ? [0, 1] : [0]);
const laneOf = (spec: ReplicatedChannel, ring: number) => (spec.mode === 'stream' ? `${idOf(spec.ref)}#${ring}` : idOf(spec.ref));
/** The name a lane's tags and durable lander slots hash for `node`: a pub/sub channel's is the node's. */
const laneNode = (r: Replica, node: string) => (r.spec.mode === 'stream' ? `${node}/stream-ring-${r.ring}` : node);

/** Sums a stream channel's two lanes' counters, peer by peer. */
function mergeCounters(into: ChannelPeerReport[] | undefined, add: ChannelPeerReport[]): ChannelPeerReport[] {
  if (!into) return add;
  const byPeer = new Map(into.map((c) => [c.peer, { ...c }]));
  for (const c of add) {
    const sum = byPeer.get(c.peer);
    if (!sum) byPeer.set(c.peer, c);
    else for (const k of Object.keys(c) as (keyof ChannelPeerReport)[]) if (k !== 'peer') sum[k] += c[k];
  }
  return [...byPeer.values()];
}

/** A message that did not come from the peer (or not whole): dropped and counted, the link stays. */
const notFromPeer = (err: unknown) => isShimmyError(err, ErrorCode.UNAUTHENTICATED) || isShimmyError(err, ErrorCode.MESSAGE_TOO_LARGE);

/** Failures that mean the endpoint is gone (or as good as): the link is connected again. */
const linkFailure = (err: unknown) =>
  isShimmyError(err, ErrorCode.PEER_UNAVAILABLE) || isShimmyError(err, ErrorCode.TIMEOUT) || isShimmyError(err, ErrorCode.TRANSPORT_FAILED);

export class NodeReplicator {
  private readonly links = new Map<string, Link>();
  private readonly replicas = new Map<string, Replica>();
  private readonly waiting = new Map<string, string>();
  private readonly finished = new Map<string, ChannelPeerReport[]>();
  private readonly accepted = new Set<UcxPeer>();
  private wanted: ReplicatorConfig = { channels: [], addresses: [] };
  private changed = true;
  private lastHealthCheck = 0;
  private readonly ackFrame = new Uint8Array(ACK_BYTES);
  private readonly ackView = new DataView(this.ackFrame.buffer);
  private readonly ackIn: Uint8Array;
  private readonly ackInView: DataView;
  /** Wakes an idle pass for a write into a ring the thread reads from, as the link wakes it for the network. */
  private readonly watcher = new FutexWatcher();

  constructor(private readonly opts: ReplicatorOptions) {
    if (!opts.worker.overhead)
      throw new ShimmyError(
        ErrorCode.INVALID_ARGUMENT,
        "the replicator's UCX worker has no key: anyone who reaches its port could put messages into channels",
        "Open it with the cluster's replication key (UcxWorker.open({ key }))",
      );
    this.ackIn = new Uint8Array(ACK_BYTES + opts.worker.overhead);
    this.ackInView = new DataView(this.ackIn.buffer);
  }

  private get connectTimeoutMs() {
    return this.opts.connectTimeoutMs ?? 1000;
  }
  private get retryMs() {
    return this.opts.retryMs ?? 1000;
  }
  private get sendTimeoutMs() {
    return this.opts.sendTimeoutMs ?? 5000;
  }

  /** The channels and peer addresses wanted from now on (applied by the loop). */
  configure(config: ReplicatorConfig): void {
    this.wanted = config;
    this.changed = true;
  }

  /** Runs until `signal` aborts; then report() still holds the counters, and close() lets go of the channels and links. */
  async run(signal: AbortSignal): Promise<void> {
    let lastApply = 0;
    const { min, max } = this.opts.idleUs ?? { min: IDLE_MIN_US, max: IDLE_MAX_US };
    let idleUs = min;
    while (!signal.aborted) {
      const now = Date.now();
      // Channels that could not be opened yet are tried again every retry interval.
      if (this.changed || (this.waiting.size > 0 && now - lastApply > this.retryMs)) {
        this.changed = false;
        lastApply = now;
        this.apply();
      }
      let did = this.acceptPeers();
      did += this.connectLinks(now);
      if (now - this.lastHealthCheck > HEALTH_CHECK_MS) {
        this.lastHealthCheck = now;
        this.checkHealth();
      }
      for (const r of this.replicas.values()) did += this.pump(r);
      // Idle: wait on the link rather than a timer, so a frame that arrives (or a transfer the peer started) goes on at once.
      if (did > 0) idleUs = min;
      else {
        this.sleep(idleUs);
        idleUs = Math.min(max, idleUs * 2);
      }
      await turn();
    }
  }

  /**
   * Sleeps on the link for up to `us`: it wakes at once for the network, and (through the
   * watcher) for a write into a ring this thread would read now. Registered as a sleeper on
   * those rings first, so their writers wake the word; then checked once more, so a write
   * before the registration is not slept through.
   */
  private sleep(us: number): void {
    const registered: Notifier[] = [];
    const watched: { address: bigint; value: number }[] = [];
    let work = false;
    try {
      for (const r of this.replicas.values()) {
        if (r.sub ? !r.reading : !this.wantsLocal(r)) continue;
        const data = r.channel.rings[r.ring]!.data;
        watched.push(data.sleepBegin());
        registered.push(data);
        if (r.sub ? r.sub.hasMessages() : r.taker!.hasLocal()) {
          work = true;
          break;
        }
      }
      if (work) return;
      if (watched.length > 0) this.watcher.arm(watched);
      this.opts.worker.wait(us, watched.length > 0 ? this.watcher.fd : -1);
      if (watched.length > 0) {
        this.watcher.disarm();
        this.reportWatcherFailure();
      }
    } finally {
      for (const n of registered) n.sleepEnd();
    }
  }

  private watcherFailureLogged = false;

  /** Logs once that writes into rings cannot wake the thread (an idle pass then waits out its time). */
  private reportWatcherFailure(): void {
    if (this.watcherFailureLogged) return;
    const why = this.watcher.failure();
    if (why === null) return;
    this.watcherFailureLogged = true;
    this.log('warn', "writes into the node's rings cannot wake the replication thread; messages wait up to 1 ms for its next pass", { err: why });
  }

  /** A stream lane that would take its node's messages now: a peer asked for some and has room. */
  private wantsLocal(r: Replica): boolean {
    for (const out of r.outs.values()) if (this.asksForLocal(r, out)) return true;
    return false;
  }

  /** A peer on a stream lane that asked for messages this node has not sent it yet, and has room for them. */
  private asksForLocal(r: Replica, out: OutLink): boolean {
    const roomInSpool = !out.spool || out.spool.free() >= 2 * frameCapacity(r.spec.maxMessage);
    return !out.dropped && !out.leaving && out.credit > 0 && out.queue.bytes < r.spec.windowBytes && roomInSpool;
  }

  report(): ReplicatorReport {
    const links = [...this.links.entries()].map(([node, l]) => ({
      node,
      state: l.state,
      ...(l.transport ? { transport: l.transport } : {}),
      reconnects: l.reconnects,
      ...(l.lastError ? { lastError: l.lastError } : {}),
    }));
    const channels: Record<string, ChannelPeerReport[]> = {};
    for (const r of this.replicas.values()) channels[r.id] = mergeCounters(channels[r.id], this.countersOf(r));
    const finished: Record<string, ChannelPeerReport[]> = {};
    for (const [lane, counters] of this.finished) {
      const id = lane.split('#')[0]!;
      finished[id] = mergeCounters(finished[id], counters);
    }
    return { links, channels, waiting: Object.fromEntries(this.waiting), finished };
  }

  private countersOf(r: Replica): ChannelPeerReport[] {
    return [...r.outs.keys()].map((peer) => {
      const out = r.outs.get(peer)!;
      const inLink = r.ins.get(peer)!;
      return {
        peer,
        forwarded: out.forwarded,
        resent: out.resent,
        landed: inLink.inbound.landed,
        repeats: inLink.inbound.repeats,
        unacknowledged: out.queue.length,
        skipped: Number(inLink.inbound.skipped),
        restarts: inLink.inbound.restarts,
        resendRequests: inLink.resendRequests,
        rejected: inLink.rejected,
        resumes: inLink.resumes,
        recovered: out.recovered,
      };
    });
  }

  private log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) {
    this.opts.log?.(level, msg, fields);
  }

  private apply(): void {
    const { channels, addresses } = this.wanted;
    const want = new Map(channels.flatMap((c) => ringsOf(c).map((ring) => [laneOf(c, ring), { spec: c, ring }] as const)));
    for (const [lane, r] of this.replicas) {
      const id = r.id;
      const spec = want.get(lane)?.spec;
      if (spec && spec.key === r.spec.key && spec.maxMessage === r.spec.maxMessage) {
        if (r.drainingSince !== undefined) this.log('info', 'channel wanted again', { channel: id });
        delete r.drainingSince;
        try {
          this.setPeers(r, spec);
        } catch (err) {
          // A new peer's lander could not be had (no free slot): opened again below, or waiting with why.
          this.closeReplica(r, true);
          this.replicas.delete(lane);
          this.log('warn', 'channel let go: a new peer could not be added', { channel: id, err: err instanceof Error ? err.message : String(err) });
        }
      } else if (spec) {
        this.closeReplica(r);
        this.replicas.delete(lane);
        this.log('info', 'channel settings changed: opened again', { channel: id });
      } else if (r.drainingSince === undefined) {
        r.drainingSince = Date.now();
        this.log('info', 'channel no longer replicated here: sending and landing what is in flight first', { channel: id });
      }
    }

    // A peer no longer named keeps its link while a channel still drains with it.
    const inUse = new Set([...this.replicas.values()].flatMap((r) => [...r.outs.keys()]));
    const byNode = new Map(addresses.map((a) => [a.node, a]));
    for (const [node, link] of this.links) {
      const address = byNode.get(node);
      if (address ? address.ip === link.address.ip && address.port === link.address.port : inUse.has(node)) continue;
      this.disconnect(link, address ? 'the peer moved to a new address' : 'no longer a peer');
      this.links.delete(node);
    }
    for (const a of addresses)
      if (!this.links.has(a.node))
        this.links.set(a.node, { address: a, ep: null, state: 'Connecting', since: Date.now(), attemptAt: 0, everConnected: false, reconnects: 0 });

    const waitedFor = new Map(this.waiting);
    this.waiting.clear();
    for (const [lane, { spec, ring }] of want) {
      if (this.replicas.has(lane)) continue;
      const id = idOf(spec.ref);
      try {
        this.replicas.set(lane, this.openReplica(spec, ring));
        this.log('info', 'replicating channel', { channel: id, peers: spec.peers, ...(spec.mode === 'stream' ? { ring } : {}) });
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        this.waiting.set(id, why);
        // Tried again every retry interval: logged when the reason changes.
        if (waitedFor.get(id) !== why) this.log('warn', 'channel not replicated yet; trying again', { channel: id, err: why, retryMs: this.retryMs });
      }
    }
  }

  private openReplica(spec: ReplicatedChannel, ring: number): Replica {
    const channel = this.opts.open(spec);
    try {
      const { mode, capacity } = channel.stats();
      const wanted = spec.mode ?? 'pubsub';
      if (mode !== wanted)
        throw new ShimmyError(
          ErrorCode.WRONG_MODE,
          `${idOf(spec.ref)} is a ${mode} channel on this node, not a ${wanted} one`,
          "Remove the segment so the agent makes it again with the channel's settings",
        );
      const spooled = mode === 'pubsub' && this.opts.spoolDir !== undefined ? this.openSpool(spec, channel, capacity) : null;
      const r: Replica = {
        spec,
        id: idOf(spec.ref),
        lane: laneOf(spec, ring),
        ring,
        channel,
        ...(mode === 'stream'
          ? { taker: channel.streamTaker(ring, STREAM_TAKER, this.opts.soleAgent?.() ?? false) }
          : { sub: spooled?.sub ?? channel.subscriber() }),
        ...(spooled ? { spool: spooled.spool } : {}),
        capacity,
        holding: false,
        reading: true,
        // A quarter of the ring at most: the peer lands a frame whole, once its ring has room for all of it.
        batch: new BatchWriter(spec.maxMessage, capacity / 4),
        epoch: spooled?.spool.epoch ?? newEpoch(),
        seq: spooled?.recovered?.nextSeq ?? 0n,
        outs: new Map(),
        ins: new Map(),
        lastActivity: Date.now(),
      };
      if (r.taker) this.withdrawAborted(r);
      this.setPeers(r, spec);
      const frames = spooled?.recovered?.frames ?? [];
      for (const out of r.outs.values()) {
        // A dropped peer would never acknowledge them, and hold the spool.
        if (out.dropped || out.leaving) continue;
        for (const f of frames) {
          out.queue.push(f.seq, f.data, f.messages);
          out.recovered += f.messages;
        }
      }
      return r;
    } catch (err) {
      channel.close();
      throw err;
    }
  }

  /**
   * An earlier agent killed mid-take left a frame in a peer's spool whose messages stayed in
   * the ring (take-note.ts): it goes, since this node's consumers or this agent take them again.
   */
  private withdrawAborted(r: Replica): void {
    const aborted = r.taker!.abortedFrame();
    if (!aborted) return;
    const path = this.peerSpoolPath(r, aborted.peer);
    if (path !== null && existsSync(path)) {
      const { spool } = Spool.open(path, this.peerSpoolSettings(r.spec));
      const withdrawn = spool.withdraw(aborted.frameLo);
      spool.close();
      this.log('info', 'an earlier agent was killed mid-take: its last frame for the peer stays in the ring instead', {
        channel: r.id,
        ring: r.ring,
        frame: aborted.frameLo,
        withdrawn,
      });
    }
    r.taker!.forgetAborted();
  }

  private peerSpoolPath(r: Replica, peerHash: number): string | null {
    if (this.opts.spoolDir === undefined) return null;
    return join(this.opts.spoolDir, `${r.spec.ref.namespace}_${r.spec.ref.name}.ring${r.ring}.${(peerHash >>> 0).toString(16)}.spool`);
  }

  /** A stream lane's spool for one peer: a window of frames, and room for the ones taken while the last of it is acknowledged. */
  private peerSpoolSettings(spec: ReplicatedChannel): SpoolSettings {
    const maxFrame = frameCapacity(spec.maxMessage);
    return { bytes: spec.windowBytes + 4 * maxFrame, maxFrame, identity: spec.key };
  }

  /** A stream lane's spool for `peer`, and what an earlier agent left in it. */
  private openPeerSpool(r: Replica, peer: string): { spool: Spool; recovered: Recovered | null } | null {
    const path = this.peerSpoolPath(r, fnv1a(peer));
    if (path === null) return null;
    const where = { channel: r.id, ring: r.ring, peer };
    const opened = this.openSpoolFile(path, this.peerSpoolSettings(r.spec), where);
    if (opened.recovered && opened.recovered.frames.length > 0) this.logResumed(opened.recovered, where);
    return opened;
  }

  /** Opens the spool at `path` in the spool directory as an earlier agent left it, or makes a new one, saying why an earlier one was not usable. */
  private openSpoolFile(path: string, settings: SpoolSettings, where: Record<string, unknown>): { spool: Spool; recovered: Recovered | null } {
    mkdirSync(this.opts.spoolDir!, { recursive: true, mode: 0o700 });
    const { spool, recovered, discarded } = Spool.open(path, settings);
    if (discarded) this.log('warn', 'an earlier spool was not usable: made a new one', { ...where, err: discarded });
    return { spool, recovered };
  }

  private logResumed(recovered: Recovered, where: Record<string, unknown>): void {
    this.log('info', 'going on from the spool an earlier agent left: sending its unacknowledged frames again', {
      ...where,
      frames: recovered.frames.length,
      nextSeq: String(recovered.nextSeq),
    });
  }

  /**
   * The channel's spool and the agent's durable subscriber: an earlier agent's frames, epoch
   * and place in the ring when it left them (a killed agent), else a new spool where the
   * subscriber stands. The subscriber's released place never passes what the spool committed,
   * so the place the spool names lies between it and the ring's end.
   */
  private openSpool(spec: ReplicatedChannel, channel: Channel, capacity: number): { sub: Subscriber; spool: Spool; recovered: Recovered | null } {
    const path = join(this.opts.spoolDir!, `${spec.ref.namespace}_${spec.ref.name}.spool`);
    const maxFrame = frameCapacity(spec.maxMessage);
    // A window, then a ring read on while publishers are held, then room for what one pass frames.
    const settings = { bytes: spec.windowBytes + 2 * capacity + 4 * maxFrame, maxFrame, identity: spec.key };
    const sub = channel.durableSubscriber(REPLICATOR_READER, this.opts.soleAgent?.() ?? false);
    try {
      const where = { channel: idOf(spec.ref) };
      let { spool, recovered } = this.openSpoolFile(path, settings, where);
      if (recovered && !(sub.adopted && sub.resumeAt(recovered.ring))) {
        this.log('warn', "an earlier spool does not match the channel's ring (the channel was made again): made a new one", { channel: idOf(spec.ref) });
        spool.remove();
        ({ spool, recovered } = Spool.open(path, settings));
      }
      if (recovered) this.logResumed(recovered, where);
      return { sub, spool, recovered };
    } catch (err) {
      sub.leave();
      throw err;
    }
  }

  private setPeers(r: Replica, spec: ReplicatedChannel): void {
    r.spec = spec;
    const me = this.opts.node;
    for (const peer of spec.peers) {
      if (!r.outs.has(peer)) {
        const spooled = r.taker ? this.openPeerSpool(r, peer) : null;
        const out: OutLink = {
          peer,
          peerHash: fnv1a(peer),
          queue: new FrameQueue(),
          dataTag: channelTag(spec.key, 'data', laneNode(r, me)),
          ackTag: channelTag(spec.key, 'ack', laneNode(r, peer)),
          forwarded: 0,
          resent: 0,
          sentUpTo: -1n,
          dropped: this.links.get(peer)?.state === 'Dropped',
          leaving: false,
          seq: spooled?.recovered?.nextSeq ?? 0n,
          epoch: spooled?.spool.epoch ?? r.epoch,
          ...(spooled ? { spool: spooled.spool } : {}),
          credit: 0,
          recovered: 0,
        };
        for (const f of spooled?.recovered?.frames ?? []) {
          out.queue.push(f.seq, f.data, f.messages);
          out.recovered += f.messages;
        }
        r.outs.set(peer, out);
      }
      r.outs.get(peer)!.leaving = false;
      if (!r.ins.has(peer)) {
        // Room for the link's MAC too.
        const inbound = new Inbound(frameCapacity(spec.maxMessage) - HEADER_BYTES + this.opts.worker.overhead);
        const lander = r.channel.lander(fnv1a(laneNode(r, peer)), this.opts.soleAgent?.() ?? false, r.ring);
        const state = new LandingState(lander);
        const resumed = state.restore();
        if (resumed) {
          inbound.epoch = resumed.epoch;
          inbound.next = resumed.next;
          this.log('info', 'going on from what an earlier agent landed from the peer', { channel: r.id, peer, next: String(resumed.next) });
        }
        r.ins.set(peer, {
          peer,
          inbound,
          view: new DataView(inbound.buf.buffer),
          lander,
          state,
          resumes: resumed ? 1 : 0,
          dataTag: channelTag(spec.key, 'data', laneNode(r, peer)),
          ackTag: channelTag(spec.key, 'ack', laneNode(r, me)),
          pending: null,
          unacknowledged: 0,
          unacknowledgedBytes: 0,
          lastFrameAt: Date.now(),
          leaving: false,
          resendRequestedAt: 0,
          resendRequests: 0,
          missing: false,
          rejected: 0,
          rejectedLoggedAt: 0,
          demand: { asked: 0, askedAt: 0, landedSince: 0 },
        });
      }
      r.ins.get(peer)!.leaving = false;
    }
    for (const peer of r.outs.keys())
      if (!spec.peers.includes(peer)) {
        r.outs.get(peer)!.leaving = true;
        r.ins.get(peer)!.leaving = true;
      }
  }

  /**
   * Lets go of a channel; `keep`: the agent stops, and the next one goes on from what each
   * lander landed, and (`keepSpool`) from the spool and the subscriber's place.
   */
  private closeReplica(r: Replica, keep = false, keepSpool = keep): void {
    this.finished.delete(r.lane);
    this.finished.set(r.lane, this.countersOf(r));
    if (this.finished.size > FINISHED_KEPT) this.finished.delete(this.finished.keys().next().value!);
    if (keepSpool && r.spool) {
      // The next agent adopts both.
      r.sub!.leave();
      r.spool.close();
    } else {
      r.sub?.close();
      r.spool?.remove();
    }
    for (const out of r.outs.values()) {
      if (keepSpool) out.spool?.close();
      else out.spool?.remove();
    }
    if (keep) r.taker?.leave();
    else r.taker?.close();
    for (const inLink of r.ins.values()) {
      if (keep) inLink.lander.leave();
      else inLink.lander.close();
    }
    r.channel.close();
  }

  private acceptPeers(): number {
    let n = 0;
    for (;;) {
      let ep: UcxPeer | null;
      try {
        ep = this.opts.worker.tryAccept();
      } catch (err) {
        // A connection request whose peer gave up meanwhile (it connects again).
        if (!linkFailure(err)) throw err;
        continue;
      }
      if (ep === null) return n;
      this.accepted.add(ep);
      n++;
    }
  }

  private connectLinks(now: number): number {
    let n = 0;
    for (const [node, link] of this.links) {
      if (link.ep !== null || now < link.attemptAt) continue;
      try {
        link.ep = this.opts.worker.connect(link.address.ip, link.address.port, this.connectTimeoutMs);
      } catch (err) {
        link.attemptAt = Date.now() + this.retryMs;
        link.lastError = err instanceof Error ? err.message : String(err);
        if (link.state !== 'Dropped' && Date.now() - link.since > this.opts.peerTimeoutMs) this.drop(node, link);
        continue;
      }
      n++;
      if (link.everConnected) link.reconnects++;
      link.everConnected = true;
      const wasDropped = link.state === 'Dropped';
      link.state = 'Connected';
      link.since = Date.now();
      link.transport = transportsOf(this.opts.worker.describe(link.ep)).join(',') || undefined;
      for (const r of this.replicas.values()) {
        const out = r.outs.get(node);
        if (out && wasDropped) out.dropped = false;
      }
      this.log('info', link.reconnects ? 'peer connected again' : 'peer connected', {
        peer: node,
        address: `${link.address.ip}:${link.address.port}`,
        transport: link.transport,
        reconnects: link.reconnects,
      });
    }
    return n;
  }

  /** A peer gone for good: its frames are let go and the channels stop waiting for it. */
  private drop(node: string, link: Link): void {
    link.state = 'Dropped';
    for (const r of this.replicas.values()) {
      const out = r.outs.get(node);
      if (!out) continue;
      out.dropped = true;
      out.queue.clear();
    }
    this.log('warn', 'peer dropped: unreachable for longer than the peer timeout; its channels no longer wait for it', {
      peer: node,
      timeoutMs: this.opts.peerTimeoutMs,
      lastError: link.lastError,
    });
  }

  private disconnect(link: Link, why: string): void {
    if (link.ep === null) return;
    try {
      this.opts.worker.closePeer(link.ep, 0);
    } catch {
      // The endpoint is already gone; its index is given back either way.
    }
    link.ep = null;
    link.lastError = why;
  }

  private linkDown(node: string, link: Link, err: unknown): void {
    const why = err instanceof Error ? err.message : String(err);
    this.disconnect(link, why);
    link.state = 'Connecting';
    link.since = Date.now();
    link.attemptAt = Date.now() + Math.min(this.retryMs, 100);
    let unacknowledged = 0;
    for (const r of this.replicas.values()) {
      const out = r.outs.get(node);
      if (!out) continue;
      out.queue.rewind();
      unacknowledged += out.queue.length;
    }
    this.log('warn', 'link to peer lost; connecting again and sending what it has not acknowledged', { peer: node, err: why, unacknowledged });
  }

  private checkHealth(): void {
    for (const [node, link] of this.links) if (link.ep !== null && !this.opts.worker.isHealthy(link.ep)) this.linkDown(node, link, 'the endpoint failed');
    for (const ep of this.accepted)
      if (!this.opts.worker.isHealthy(ep)) {
        this.accepted.delete(ep);
        try {
          this.opts.worker.closePeer(ep, 0);
        } catch {
          // Gone already.
        }
      }
  }

  /** Sends on a peer's link; false (and the link marked down) when the link failed. */
  private send(node: string, tag: bigint, data: Uint8Array): boolean {
    const link = this.links.get(node);
    if (!link || link.ep === null) return false;
    try {
      this.opts.worker.send(link.ep, tag, data, this.sendTimeoutMs);
      return true;
    } catch (err) {
      if (!linkFailure(err)) throw err;
      this.linkDown(node, link, err);
      return false;
    }
  }

  private pump(r: Replica): number {
    let did = 0;
    for (const out of r.outs.values()) {
      did += this.takeAcks(r, out) + this.sendQueued(out);
      out.spool?.release(out.queue.oldest() ?? out.seq);
    }
    if (r.spool) r.spool.release(this.oldestKept(r));
    let ringRead = true;
    if (r.sub) {
      const room = this.roomForAll(r);
      r.reading = room;
      // The messages keep their ring space until their frames are committed to the spool, and the frames go out only then.
      const read = room ? r.sub.pollHeld(this.forwarderOf(r), RING_READ) : 0;
      if (r.batch.count > 0) this.sendBatch(r);
      if (read > 0) r.spool?.commit(r.sub.position(), r.seq);
      r.sub.release();
      if (read > 0) for (const out of r.outs.values()) this.sendQueued(out);
      did += read;
      ringRead = room && read === 0;
    } else did += this.takeForPeers(r);
    for (const inLink of r.ins.values()) {
      did += this.landFrom(r, inLink);
      if (r.taker) this.askForMessages(r, inLink);
    }
    const now = Date.now();
    if (did > 0) r.lastActivity = now;
    // A stream's messages still in the ring are its consumers' here, not in flight.
    this.retire(r, ringRead, now);
    return did;
  }

  /**
   * A stream lane: takes this node's messages from the ring for the peers that asked for them,
   * each frame to one peer, committed to its spool before they leave the ring.
   */
  private takeForPeers(r: Replica): number {
    let n = 0;
    for (const out of r.outs.values()) {
      const sink = this.sinkOf(r, out);
      while (this.asksForLocal(r, out)) {
        const taken = r.taker!.takeFrame(Math.min(out.credit, BATCH), out.peerHash, sink);
        if (taken === 0) break;
        out.credit -= taken;
        n += taken;
        this.sendQueued(out);
      }
    }
    return n;
  }

  private readonly sinks = new WeakMap<OutLink, FrameSink>();

  /** Where a stream lane's take for `out` goes: the lane's batch, then the peer's queue and spool. */
  private sinkOf(r: Replica, out: OutLink): FrameSink {
    let sink = this.sinks.get(out);
    if (!sink) {
      sink = {
        // The ring keeps the records until the cursor moves, after seal() copied them.
        add: (bytes, offset, length) => {
          if (!r.batch.fits(length)) return false;
          r.batch.addRecord(bytes, offset, length);
          return true;
        },
        seal: () => {
          const seq = out.seq++;
          const { data, messages } = r.batch.take(seq, out.epoch, out.spool);
          out.queue.push(seq, data, messages);
          return { seq, commit: () => out.spool?.commit(NO_RING, out.seq) };
        },
      };
      this.sinks.set(out, sink);
    }
    return sink;
  }

  /** A stream lane: asks the peer for messages while this node's consumers of the ring are idle, and stops asking when they are gone. */
  private askForMessages(r: Replica, inLink: InLink): void {
    const now = performance.now();
    const ask = demandNow(inLink.demand, r.taker!.consumers(), r.taker!.backlog(), now);
    if (ask === null) return;
    writeHeader(this.ackView, inLink.pending?.seq ?? inLink.inbound.next, inLink.inbound.epoch, FLAG_DEMAND | (ask << DEMAND_SHIFT));
    if (!this.send(inLink.peer, inLink.ackTag, this.ackFrame)) return;
    inLink.demand = { asked: ask, askedAt: now, landedSince: 0 };
  }

  /** Lets go of the peers that left and, once nothing is in flight (or nothing moved for the peer timeout), a channel no longer wanted. */
  private retire(r: Replica, ringRead: boolean, now: number): void {
    const quiet = (i: InLink) => i.pending === null && now - i.lastFrameAt > QUIET_MS;
    const sentAll = (o: OutLink) => o.dropped || o.queue.length === 0;
    for (const [peer, out] of r.outs)
      if (out.leaving && sentAll(out) && quiet(r.ins.get(peer)!)) {
        r.outs.delete(peer);
        out.spool?.remove();
        r.ins.get(peer)!.lander.close();
        r.ins.delete(peer);
        this.changed = true;
      }
    if (r.drainingSince === undefined) return;
    const done = ringRead && [...r.outs.values()].every(sentAll) && [...r.ins.values()].every(quiet);
    const stuck = now - r.lastActivity > this.opts.peerTimeoutMs;
    if (!done && !stuck) return;
    this.closeReplica(r);
    this.replicas.delete(r.lane);
    this.changed = true;
    this.log(stuck ? 'warn' : 'info', stuck ? 'channel let go with messages in flight: nothing moved for the peer timeout' : 'channel no longer replicated', {
      channel: r.id,
      drainedMs: now - r.drainingSince,
    });
  }

  /**
   * Whether the agent's subscriber may read on: every live peer has less than a window and a
   * ring of frames it has not acknowledged. From a window on, the node's publishers are held
   * back instead (Subscriber.holdPublishers): what they already wrote (a ring at most) can
   * still be read, so the subscriber never stops in front of frames landed from the peers.
   * Were it to stop there, two nodes both publishing could each fill their ring with messages
   * waiting for the other to land what it sent, and neither could land anything.
   */
  private roomForAll(r: Replica): boolean {
    let full = false;
    let room = true;
    for (const out of r.outs.values()) {
      if (out.dropped) continue;
      if (out.queue.bytes >= r.spec.windowBytes) full = true;
      if (out.queue.bytes >= r.spec.windowBytes + r.capacity) room = false;
    }
    if (r.spool) {
      // The spool's entries also count their headers and the wrap: past a window of them, hold; with less than a ring's frames free, stop.
      const free = r.spool.free();
      if (free < r.spool.size - r.spec.windowBytes) full = true;
      if (free < r.capacity + 3 * frameCapacity(r.spec.maxMessage)) room = false;
    }
    // Held whenever reading stops, whichever bound stopped it.
    full ||= !room;
    if (full !== r.holding) {
      r.holding = full;
      r.sub!.holdPublishers(full);
    }
    return room;
  }

  private readonly forwarders = new WeakMap<Replica, MessageHandler>();

  private forwarderOf(r: Replica) {
    let f = this.forwarders.get(r);
    if (!f) {
      const inPlace = r.sub!.inPlace;
      f = (bytes, offset, length, _seq, remote) => {
        // Landed from a peer: it does not go back.
        if (remote) return;
        if (!r.batch.fits(length)) this.sendBatch(r);
        if (inPlace) r.batch.addRecord(bytes, offset, length);
        else r.batch.add(bytes, offset, length);
      };
      this.forwarders.set(r, f);
    }
    return f;
  }

  /** Makes the messages read so far the channel's next frame (in the spool, if any), queued for every peer that takes it. */
  private sendBatch(r: Replica): void {
    const seq = r.seq++;
    const { data, messages } = r.batch.take(seq, r.epoch, r.spool);
    for (const out of r.outs.values()) {
      if (out.dropped || out.leaving) continue;
      out.queue.push(seq, data, messages);
    }
  }

  /** The oldest frame a peer still waits for (every frame before it is acknowledged by all, or let go). */
  private oldestKept(r: Replica): bigint {
    let oldest = r.seq;
    for (const out of r.outs.values()) {
      const seq = out.queue.oldest();
      if (seq !== undefined && seq < oldest) oldest = seq;
    }
    return oldest;
  }

  /** Sends a peer's queued frames not sent on its current endpoint; returns how many went. */
  private sendQueued(out: OutLink): number {
    let n = 0;
    for (let f = out.queue.nextUnsent(); f; f = out.queue.nextUnsent()) {
      let data = f.data;
      if (out.resendFrom !== undefined) {
        // The frames are shared by every peer: the mark goes on a copy.
        if (f.seq > out.resendFrom) {
          data = f.data.slice();
          new DataView(data.buffer).setUint32(12, FLAG_FROM_HERE, true);
        }
      }
      if (!this.send(out.peer, out.dataTag, data)) break;
      delete out.resendFrom;
      out.queue.markSent();
      if (f.seq <= out.sentUpTo) out.resent += f.messages;
      else {
        out.sentUpTo = f.seq;
        out.forwarded += f.messages;
      }
      n++;
      if (n >= BATCH) break;
    }
    return n;
  }

  private takeAcks(r: Replica, out: OutLink): number {
    let n = 0;
    // At most BATCH a pass: a flood of acknowledgements (forged ones too) cannot hold the loop here.
    for (let i = 0; i < BATCH; i++) {
      let got;
      try {
        got = this.opts.worker.tryRecv(out.ackTag, ALL, this.ackIn, 1000);
      } catch (err) {
        if (!notFromPeer(err)) throw err;
        this.reject(r, out.peer, err);
        continue;
      }
      if (!got) break;
      n++;
      if (got.length !== ACK_BYTES) {
        this.reject(r, out.peer, new ShimmyError(ErrorCode.INVALID_SIZE, `a ${got.length}-byte acknowledgement`, 'Acknowledgements have 16 bytes'));
        continue;
      }
      const ack = readHeader(this.ackInView);
      // The peer's consumers' request stands whatever the epoch: it is about what they want next.
      if ((ack.flags & FLAG_DEMAND) !== 0 && r.taker) out.credit = ack.flags >>> DEMAND_SHIFT;
      const resend = (ack.flags & FLAG_RESEND) !== 0;
      // Epoch 0: a receiver that has taken nothing from this sender yet.
      if (ack.epoch !== out.epoch && !(resend && ack.epoch === 0)) continue;
      if (ack.epoch === out.epoch) out.queue.acknowledge(ack.seq);
      if (resend) {
        out.queue.rewind();
        out.resendFrom = ack.epoch === out.epoch ? ack.seq : -1n;
      }
    }
    return n;
  }

  private landFrom(r: Replica, inLink: InLink): number {
    let n = 0;
    let dry = false;
    for (let i = 0; i < BATCH; i++) {
      if (inLink.pending === null) {
        let got;
        try {
          got = this.opts.worker.tryRecv(inLink.dataTag, ALL, inLink.inbound.buf, this.sendTimeoutMs);
        } catch (err) {
          if (notFromPeer(err)) {
            this.reject(r, inLink.peer, err);
            continue;
          }
          // A large frame that did not arrive in full (a cut link mid-rendezvous) is lost here: ask for it again.
          if (!linkFailure(err)) throw err;
          inLink.missing = true;
          break;
        }
        if (!got) {
          dry = true;
          break;
        }
        n++;
        if (got.length < HEADER_BYTES) {
          this.reject(r, inLink.peer, new ShimmyError(ErrorCode.INVALID_SIZE, `a ${got.length}-byte frame`, 'Frames have a 16-byte header'));
          continue;
        }
        const kind = inLink.inbound.classify();
        if (kind === 'repeat') continue;
        if (kind === 'gap') {
          inLink.missing = true;
          continue;
        }
        inLink.missing = false;
        inLink.pending = { seq: readHeader(inLink.view).seq, length: got.length };
        inLink.unacknowledgedBytes += got.length;
      }
      if (!this.landPending(r, inLink)) {
        // No room for the next frame: the peer hears now what did land, since its window (and, both ways, this ring) may wait on it.
        if (inLink.unacknowledged > 0) this.acknowledge(inLink);
        break;
      }
      inLink.pending = null;
      inLink.unacknowledged++;
      n++;
      // Also by bytes: the sender keeps only the channel's capacity of frames, and waits for this.
      if (inLink.unacknowledged >= ACK_EVERY || inLink.unacknowledgedBytes >= r.spec.windowBytes / 4) this.acknowledge(inLink);
    }
    if (n > 0) inLink.lastFrameAt = Date.now();
    if (inLink.missing) this.requestResend(inLink);
    if (dry && (n > 0 || inLink.unacknowledged > 0)) this.acknowledge(inLink);
    return n;
  }

  /** Tells the peer the next frame wanted (everything before it is landed). */
  private acknowledge(inLink: InLink): void {
    // A frame still waiting in the inbox is not landed yet, though its number is taken.
    writeHeader(this.ackView, inLink.pending?.seq ?? inLink.inbound.next, inLink.inbound.epoch);
    if (!this.send(inLink.peer, inLink.ackTag, this.ackFrame)) return;
    inLink.unacknowledged = 0;
    inLink.unacknowledgedBytes = 0;
  }

  /** Counts (and logs, at most every REJECT_LOG_MS per peer and channel) a message under a peer's tags that did not come from it. */
  private reject(r: Replica, peer: string, err: unknown): void {
    const inLink = r.ins.get(peer)!;
    inLink.rejected++;
    const now = Date.now();
    if (now - inLink.rejectedLoggedAt < REJECT_LOG_MS) return;
    inLink.rejectedLoggedAt = now;
    this.log('warn', "dropped a message under a peer's tags that is not the peer's: no valid MAC under this cluster's replication key, or malformed", {
      channel: r.id,
      peer,
      err: err instanceof Error ? err.message : String(err),
      rejected: inLink.rejected,
    });
  }

  /** Lands the frame in the inbox whole: true when it is in the ring (or dropped), false when the ring has no room for all of it yet. */
  private landPending(r: Replica, inLink: InLink): boolean {
    const p = inLink.pending!;
    const { inbound, state } = inLink;
    let landed: number;
    try {
      landed = inLink.lander.tryLand(inbound.buf, HEADER_BYTES, p.length, (pos, seq, end, count) => {
        state.pending(pos, seq, inbound.epoch, p.seq);
        // Nothing landed goes back: the agent's subscriber steps over it without reading it.
        r.sub?.skipLanded(pos, end, count);
      });
    } catch (err) {
      // Malformed, or more than this ring holds at once: only a peer with the cluster key could have sent it (another version, other channel settings).
      if (!isShimmyError(err, ErrorCode.INVALID_ARGUMENT)) throw err;
      this.reject(r, inLink.peer, err);
      state.done(inbound.epoch, p.seq + 1n);
      return true;
    }
    if (landed < 0) return false;
    state.done(inbound.epoch, p.seq + 1n);
    inbound.landed += landed;
    inLink.demand.landedSince += landed;
    return true;
  }

  /** Asks the peer for every frame from the next one wanted, again (frames went missing). */
  private requestResend(inLink: InLink): void {
    const now = Date.now();
    if (now - inLink.resendRequestedAt < RESEND_REQUEST_MS) return;
    inLink.resendRequestedAt = now;
    inLink.resendRequests++;
    writeHeader(this.ackView, inLink.inbound.next, inLink.inbound.epoch, FLAG_RESEND);
    this.send(inLink.peer, inLink.ackTag, this.ackFrame);
  }

  close(): void {
    // A channel no longer wanted here is not the next agent's to send: its spool and place in the ring go.
    for (const r of this.replicas.values()) this.closeReplica(r, true, r.drainingSince === undefined);
    this.replicas.clear();
    for (const link of this.links.values()) this.disconnect(link, 'stopped');
    this.links.clear();
    this.watcher.close();
  }
}
