/**
 * The floor: the fastest a JavaScript loop moves records through a System V segment on this
 * machine, with no protocol around them. One writer, one reader, a power-of-two byte ring;
 * records are [u32 length][payload padded to 4 bytes]; a u32 write index and a u32 read
 * index (bytes, wrapping at 2^32) on their own cache lines in a 128-byte header, published
 * with Atomics.store and read with Atomics.load. The reader spins; the writer spins when the
 * ring is full. No participants, heartbeats, sequence numbers or wake-ups: what Shimmy adds
 * per message is measured against this.
 *
 * The runner creates each topic's segment (createBareRings) and removes it after the run;
 * the second process to attach marks it for removal too, so it goes with the processes even
 * if the runner is killed.
 */
import { fnv1a } from '../../src/channel/names.js';
import { Segment, type SegmentId } from '../../src/shm/segment.js';
import type { OnMessage, Sender, Transport, WorkerContext } from './transport.js';

const HEADER_BYTES = 128;
/** u32 word indexes in the header. */
const WRITE = 0;
const MAGIC_WORD = 1;
const CAPACITY_WORD = 2;
const READ = 16;
const MAGIC = 0x42524e47; // 'BRNG'
/** A length word saying "the rest up to the ring's end is padding". */
const PAD = 0xffffffff;
/** How long a side spins on a full (writer) or empty (reader) ring before giving the event loop a turn. */
const SPIN_MS = 1;

export function bareRingSegment(runId: string, topic: string): SegmentId {
  return { key: fnv1a(`shimmy-bench/bare-ring/${topic}-${runId}`) | 0 || 1, label: `bare-ring/${topic}-${runId}` };
}

/** Ring bytes for messages up to `maxMessage`: 8 MiB (as the shm channels), or 4 records' worth. */
export function bareRingCapacity(maxMessage: number): number {
  let cap = 8 * 1024 * 1024;
  while (cap < 4 * (maxMessage + 8)) cap *= 2;
  return cap;
}

/** The bytes a record of `length` takes: its length word and the payload padded to 4. */
export function recordBytes(length: number): number {
  return 4 + ((length + 3) & ~3);
}

function removeByKey(seg: SegmentId): void {
  const id = Segment.lookup(seg.key);
  if (id === null) return;
  try {
    Segment.remove(seg, id);
  } catch {
    // already marked by a worker: gone when the last process detaches
  }
}

/**
 * Creates one ring segment per topic for a run; the returned function removes them (safe to
 * call more than once, and after a worker already marked them).
 */
export function createBareRings(runId: string, topics: string[], maxMessage: number): () => void {
  const segs = topics.map((t) => bareRingSegment(runId, t));
  const cleanup = () => segs.forEach(removeByKey);
  try {
    for (const seg of segs) {
      removeByKey(seg);
      const capacity = bareRingCapacity(maxMessage);
      const s = Segment.create(seg, HEADER_BYTES + capacity, 0o600);
      const ctl = new Uint32Array(s.buffer, 0, HEADER_BYTES / 4);
      ctl[CAPACITY_WORD] = capacity;
      Atomics.store(ctl, MAGIC_WORD, MAGIC);
      s.detach();
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return cleanup;
}

interface Ring {
  segment: Segment;
  ctl: Uint32Array;
  /** The whole segment, by word and by byte: records are addressed from its start. */
  words: Uint32Array;
  bytes: Uint8Array;
  capacity: number;
  mask: number;
  /** The reader's index, kept between pump() calls. */
  read: number;
}

function attach(ctx: WorkerContext, topic: string): Ring {
  const seg = bareRingSegment(ctx.runId, topic);
  const segment = Segment.attach(seg);
  const ctl = new Uint32Array(segment.buffer, 0, HEADER_BYTES / 4);
  const capacity = ctl[CAPACITY_WORD]!;
  if (Atomics.load(ctl, MAGIC_WORD) !== MAGIC || capacity === 0 || (capacity & (capacity - 1)) !== 0 || HEADER_BYTES + capacity > segment.size) {
    segment.detach();
    throw new Error(`segment ${seg.label} is not a bare ring`);
  }
  // Both sides attached: mark it for removal now; it lives until both detach or exit.
  if (segment.info().attached >= 2) removeByKey(seg);
  return {
    segment,
    ctl,
    words: new Uint32Array(segment.buffer, 0, (HEADER_BYTES + capacity) / 4),
    bytes: new Uint8Array(segment.buffer, 0, HEADER_BYTES + capacity),
    capacity,
    mask: capacity - 1,
    read: Atomics.load(ctl, READ),
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

function ringSender(ring: Ring): Sender {
  const { ctl, words, bytes, capacity, mask } = ring;
  let w = Atomics.load(ctl, WRITE);
  // Free bytes as last seen; the reader's index is read again only when they run out.
  let free = capacity - ((w - Atomics.load(ctl, READ)) >>> 0);
  const publish = () => Atomics.store(ctl, WRITE, w);

  /** Writes one record (not yet published); false, writing nothing, when the ring is full. */
  const put = (msg: Uint8Array): boolean => {
    const len = msg.length;
    const rec = recordBytes(len);
    const pos = w & mask;
    const toEnd = capacity - pos;
    const need = rec <= toEnd ? rec : toEnd + rec;
    if (need > free) {
      free = capacity - ((w - Atomics.load(ctl, READ)) >>> 0);
      if (need > free) return false;
    }
    let at = HEADER_BYTES + pos;
    if (rec > toEnd) {
      words[at >>> 2] = PAD;
      w = (w + toEnd) >>> 0;
      free -= toEnd;
      at = HEADER_BYTES;
    }
    words[at >>> 2] = len;
    if (len <= 32) for (let i = 0; i < len; i++) bytes[at + 4 + i] = msg[i]!;
    else bytes.set(msg, at + 4);
    w = (w + rec) >>> 0;
    free -= rec;
    return true;
  };

  /** Publishes what was written, then spins until `msg` fits (up to SPIN_MS). */
  const spinPut = (msg: Uint8Array): boolean => {
    publish();
    const until = performance.now() + SPIN_MS;
    for (let spins = 1; ; spins++) {
      if (put(msg)) return true;
      if ((spins & 255) === 0 && performance.now() > until) return false;
    }
  };

  const writeFrom = (msgs: readonly Uint8Array[], from: number, count: number): void | Promise<void> => {
    for (let i = from; i < count; i++) {
      const msg = msgs[i]!;
      if (put(msg)) continue;
      if (2 * recordBytes(msg.length) > capacity) throw new Error(`a ${msg.length}-byte message does not fit the ${capacity}-byte ring`);
      if (!spinPut(msg)) return turn().then(() => writeFrom(msgs, i, count));
    }
    publish();
  };

  return {
    send(msg) {
      // Each message is published at once: a batch is what sendBatch is for.
      if (!put(msg)) return writeFrom([msg], 0, 1);
      publish();
    },
    sendBatch(msgs, count) {
      // Published once a batch, and whenever the ring is full.
      return writeFrom(msgs, 0, count);
    },
    async flush() {
      publish();
    },
    async close() {
      publish();
      ring.segment.detach(true);
    },
  };
}

export function bareRingTransport(): Transport {
  let reader: Ring | null = null;
  let handler: OnMessage = () => {};
  return {
    name: 'bare-ring',
    idle: 'busy-spin',
    description: 'A bare single-writer ring in a System V segment, no protocol: the floor for Shimmy',
    async sender(ctx, topic) {
      return ringSender(attach(ctx, topic));
    },
    async receiver(ctx, topic, onMessage) {
      const ring = attach(ctx, topic);
      reader = ring;
      handler = onMessage;
      return {
        async close() {
          if (reader === ring) reader = null;
          ring.segment.detach(true);
        },
      };
    },
    async pump(until) {
      const ring = reader;
      if (!ring) throw new Error('bare-ring: no receiver to pump');
      const h = handler;
      const { ctl, words, bytes, capacity, mask } = ring;
      // The read index goes back to the writer after all that was there, or every quarter ring.
      const quarter = capacity / 4;
      let r = ring.read;
      let stored = r;
      let spins = 0;
      let idleSince = 0;
      while (!until()) {
        const w = Atomics.load(ctl, WRITE);
        if (w === r) {
          // Spin; give the event loop (IPC) a turn when nothing came for SPIN_MS.
          if ((++spins & 1023) === 0) {
            const t = performance.now();
            if (idleSince === 0) idleSince = t;
            else if (t - idleSince > SPIN_MS) {
              idleSince = 0;
              ring.read = r;
              await turn();
            }
          }
          continue;
        }
        spins = 0;
        idleSince = 0;
        while (r !== w) {
          const pos = r & mask;
          const len = words[(HEADER_BYTES + pos) >>> 2]!;
          if (len === PAD) {
            r = (r + capacity - pos) >>> 0;
            continue;
          }
          h(bytes, HEADER_BYTES + pos + 4, len);
          r = (r + recordBytes(len)) >>> 0;
          if ((r - stored) >>> 0 >= quarter) {
            Atomics.store(ctl, READ, r);
            stored = r;
          }
        }
        Atomics.store(ctl, READ, r);
        stored = r;
      }
      ring.read = r;
    },
  };
}
