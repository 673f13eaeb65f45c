/**
 * Segment layout, version 1. All integers little-endian; positions are 32-bit byte
 * counters that wrap modulo 2^32 (capacities are powers of two, so index = pos & (cap-1)).
 *
 * Page 0, line 0 (offset 0): configuration, written once by the creator
 *   0  magic            u32  'SHMY' (0x594d4853), stored last: 0 means "initializing"
 *   4  version          u32  LAYOUT_VERSION
 *   8  mode             u32  1 pubsub, 2 stream
 *  12  slowConsumer     u32  1 block, 2 overwrite
 *  16  capacity         u32  bytes per ring (power of two)
 *  20  maxMessage       u32  largest payload
 *  24  maxParticipants  u32  slots in the participant table (<= 255)
 *  28  ringCount        u32  1 (pubsub) or 2 (stream: a->b, b->a)
 *  32  createdAtMs      f64  creation time, ms since the epoch; heartbeats are relative to it
 *  40  identityHash     u32  FNV-1a of the identity string
 *  44  identityLength   u32
 *  48  headerBytes      u32  offset of the first ring
 * 64..319: identity      UTF-8 "namespace/name[@uid]"
 * Ring r control, 4 cache lines at RING_CONTROL + r * 256:
 *   line 0  tail u32 (committed end), tailIntent u32 (end being written, overwrite mode),
 *           nextSeq u32, writeLock u32 (owner token), writeLockSince u32 (ms, relative),
 *           lastRecord u32 (start of the newest record: where a lapped reader resumes),
 *           exclusiveWriter u32 (token of an exclusive publisher holding writeLock, or 0),
 *           gate u32 (token of the node agent's subscriber holding publishers back, or 0)
 *   line 1  dataNotify u32 (futex), dataWaiters u32
 *   line 2  spaceNotify u32 (futex), spaceWaiters u32
 *   line 3  stream consumers: sharedCursor u32, readLock u32, taken u32, readLockSince u32
 * Participant slots at PARTICIPANTS, 64 bytes each (see participants.ts).
 * Rings from headerBytes, `capacity` bytes each. A record is
 *   head u32 | seq u32 | payload, padded to 8 bytes,
 * where head is VALID_FLAG | payload length (with REMOTE_FLAG on a record the node agent
 * landed from another node), or PAD_FLAG | filler length for the filler up to the end of the
 * ring. Version 2 added REMOTE_FLAG (lengths lost their top bit: a record is at most half a
 * ring of at most 2^30 bytes anyway). Commit protocol: the writer keeps the head word at the tail zero
 * (it zeroes the next head before publishing the current one with a release store), so a
 * reader sees a record exactly when its head is non-zero and never reads `tail`. `tail` is a
 * hint for writers and tools; a writer taking over from a dead one repairs it by scanning
 * heads from it to the first zero.
 */
import { ErrorCode, ShimmyError } from '../errors.js';

export const MAGIC = 0x594d4853;
export const LAYOUT_VERSION = 2;
export const CACHE_LINE = 64;

export const Mode = { pubsub: 1, stream: 2 } as const;
export type ModeName = keyof typeof Mode;
export const SlowConsumer = { block: 1, overwrite: 2 } as const;
export type SlowConsumerName = keyof typeof SlowConsumer;

/** Word indexes (u32) of the segment header, page 0. */
export const HeaderWord = {
  magic: 0,
  version: 1,
  mode: 2,
  slowConsumer: 3,
  capacity: 4,
  maxMessage: 5,
  maxParticipants: 6,
  ringCount: 7,
  createdAtMs: 8, // f64: bytes 32..39
  identityHash: 10,
  identityLength: 11,
  headerBytes: 12,
} as const;

export const IDENTITY_OFFSET = 64;
export const IDENTITY_MAX = 256;
export const RING_CONTROL = 384;
export const RING_CONTROL_BYTES = 256;

/** Word indexes (u32) inside one ring's control block. */
export const RingWord = {
  tail: 0,
  tailIntent: 1,
  nextSeq: 2,
  writeLock: 3,
  writeLockSince: 4,
  lastRecord: 5,
  exclusiveWriter: 6,
  gate: 7,
  dataNotify: 16,
  dataWaiters: 17,
  spaceNotify: 32,
  spaceWaiters: 33,
  sharedCursor: 48,
  readLock: 49,
  taken: 50,
  readLockSince: 51,
} as const;

export const PARTICIPANTS = 1024;
export const SLOT_BYTES = 64;
export const MAX_PARTICIPANTS = 255;

export const RECORD_HEADER = 8;
export const PAD_FLAG = 0x80000000;
export const VALID_FLAG = 0x40000000;
/** On a record's head with VALID_FLAG: the node agent landed it from another node (it must not go back). */
export const REMOTE_FLAG = 0x20000000;
export const LENGTH_MASK = 0x1fffffff;

export const MIN_CAPACITY = 4096;
export const MAX_CAPACITY = 1 << 30;

export interface ChannelConfig {
  mode: ModeName;
  capacity: number;
  maxMessage: number;
  slowConsumer: SlowConsumerName;
  maxParticipants: number;
}

export const DEFAULTS: ChannelConfig = {
  mode: 'pubsub',
  capacity: 8 * 1024 * 1024,
  maxMessage: 1024 * 1024,
  slowConsumer: 'block',
  maxParticipants: 64,
};

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes a record with this payload occupies, header included. */
export function recordBytes(payload: number): number {
  return RECORD_HEADER + align8(payload);
}

export function ringCount(mode: ModeName): number {
  return mode === 'stream' ? 2 : 1;
}

export function headerBytes(maxParticipants: number): number {
  return Math.ceil((PARTICIPANTS + maxParticipants * SLOT_BYTES) / 4096) * 4096;
}

export function segmentBytes(cfg: ChannelConfig): number {
  return headerBytes(cfg.maxParticipants) + ringCount(cfg.mode) * cfg.capacity;
}

function invalid(problem: string, hint: string): never {
  throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, problem, hint);
}

export function validateConfig(cfg: ChannelConfig): ChannelConfig {
  if (!(cfg.mode in Mode)) invalid(`Unknown mode ${JSON.stringify(cfg.mode)}`, 'Use pubsub or stream');
  if (!(cfg.slowConsumer in SlowConsumer)) invalid(`Unknown slow-consumer policy ${JSON.stringify(cfg.slowConsumer)}`, 'Use block or overwrite');
  if (cfg.mode === 'stream' && cfg.slowConsumer !== 'block') {
    invalid(
      'A stream channel cannot use the overwrite policy: each message must reach exactly one consumer',
      'Use --slow-consumer block (the default) for streams',
    );
  }
  const cap = cfg.capacity;
  if (!Number.isInteger(cap) || cap < MIN_CAPACITY || cap > MAX_CAPACITY || (cap & (cap - 1)) !== 0) {
    invalid(`Capacity ${cap} is not a power of two between 4KiB and 1GiB`, 'Pick e.g. 1MiB, 8MiB or 64MiB');
  }
  if (!Number.isInteger(cfg.maxMessage) || cfg.maxMessage < 1 || recordBytes(cfg.maxMessage) > cap / 2) {
    invalid(
      `Max message ${cfg.maxMessage} does not fit a ${cap}-byte ring (a record of header and payload may take at most half the ring)`,
      `Use --max-message up to ${cap / 2 - RECORD_HEADER} or a larger --capacity`,
    );
  }
  if (!Number.isInteger(cfg.maxParticipants) || cfg.maxParticipants < 2 || cfg.maxParticipants > MAX_PARTICIPANTS) {
    invalid(`maxParticipants ${cfg.maxParticipants} is outside 2..${MAX_PARTICIPANTS}`, 'Use the default of 64 unless you need more');
  }
  return cfg;
}

function modeName(v: number): ModeName | undefined {
  return (Object.keys(Mode) as ModeName[]).find((k) => Mode[k] === v);
}
function policyName(v: number): SlowConsumerName | undefined {
  return (Object.keys(SlowConsumer) as SlowConsumerName[]).find((k) => SlowConsumer[k] === v);
}

/** Writes a fresh header; the magic goes last so attachers never see half a header. */
export function initHeader(buffer: ArrayBuffer, cfg: ChannelConfig, identity: string, hash: number, now = Date.now()): void {
  const u32 = new Uint32Array(buffer, 0, 4096 / 4);
  const bytes = new TextEncoder().encode(identity);
  if (bytes.length > IDENTITY_MAX) invalid(`Channel identity ${identity} is longer than ${IDENTITY_MAX} bytes`, 'Use shorter names');
  new Uint8Array(buffer, IDENTITY_OFFSET, IDENTITY_MAX).set(bytes);
  u32[HeaderWord.version] = LAYOUT_VERSION;
  u32[HeaderWord.mode] = Mode[cfg.mode];
  u32[HeaderWord.slowConsumer] = SlowConsumer[cfg.slowConsumer];
  u32[HeaderWord.capacity] = cfg.capacity;
  u32[HeaderWord.maxMessage] = cfg.maxMessage;
  u32[HeaderWord.maxParticipants] = cfg.maxParticipants;
  u32[HeaderWord.ringCount] = ringCount(cfg.mode);
  new Float64Array(buffer, HeaderWord.createdAtMs * 4, 1)[0] = now;
  u32[HeaderWord.identityHash] = hash;
  u32[HeaderWord.identityLength] = bytes.length;
  u32[HeaderWord.headerBytes] = headerBytes(cfg.maxParticipants);
  Atomics.store(u32, HeaderWord.magic, MAGIC);
}

export interface HeaderInfo extends ChannelConfig {
  identity: string;
  createdAtMs: number;
  headerBytes: number;
}

function corrupt(label: string, problem: string): never {
  throw new ShimmyError(
    ErrorCode.CORRUPT_HEADER,
    `Segment of channel ${label}: ${problem}`,
    'The segment is damaged or not a Shimmy segment; remove it with `shimmy channel rm` (or `ipcrm -M KEY`) and create it again',
  );
}

/** Reads and checks a header; `label` names the channel in error messages. */
export function readHeader(buffer: ArrayBuffer, label: string): HeaderInfo {
  if (buffer.byteLength < 4096) corrupt(label, `the segment is ${buffer.byteLength} bytes, smaller than a header`);
  const u32 = new Uint32Array(buffer, 0, 4096 / 4);
  const magic = Atomics.load(u32, HeaderWord.magic);
  if (magic === 0) {
    throw new ShimmyError(
      ErrorCode.NOT_INITIALIZED,
      `The segment of channel ${label} has no header yet`,
      'Its creator is still initializing it or died while doing so; retry, or remove it with `shimmy channel rm` and create it again',
    );
  }
  if (magic !== MAGIC) corrupt(label, `wrong magic 0x${magic.toString(16)} (expected 0x${MAGIC.toString(16)})`);
  const version = u32[HeaderWord.version]!;
  if (version !== LAYOUT_VERSION) {
    throw new ShimmyError(
      ErrorCode.VERSION_MISMATCH,
      `The segment of channel ${label} has layout version ${version}, this library speaks ${LAYOUT_VERSION}`,
      'Upgrade the older side so both use the same Shimmy release, or recreate the channel',
    );
  }
  const mode = modeName(u32[HeaderWord.mode]!);
  const slowConsumer = policyName(u32[HeaderWord.slowConsumer]!);
  if (!mode) corrupt(label, `unknown mode ${u32[HeaderWord.mode]}`);
  if (!slowConsumer) corrupt(label, `unknown slow-consumer policy ${u32[HeaderWord.slowConsumer]}`);
  const cfg: ChannelConfig = {
    mode,
    slowConsumer,
    capacity: u32[HeaderWord.capacity]!,
    maxMessage: u32[HeaderWord.maxMessage]!,
    maxParticipants: u32[HeaderWord.maxParticipants]!,
  };
  try {
    validateConfig(cfg);
  } catch (err) {
    corrupt(label, (err as Error).message);
  }
  const hb = u32[HeaderWord.headerBytes]!;
  if (hb !== headerBytes(cfg.maxParticipants) || u32[HeaderWord.ringCount] !== ringCount(mode)) corrupt(label, 'inconsistent header size or ring count');
  if (buffer.byteLength < segmentBytes(cfg)) corrupt(label, `segment is ${buffer.byteLength} bytes, its header needs ${segmentBytes(cfg)}`);
  const idLen = u32[HeaderWord.identityLength]!;
  if (idLen > IDENTITY_MAX) corrupt(label, `identity length ${idLen}`);
  const identity = new TextDecoder().decode(new Uint8Array(buffer, IDENTITY_OFFSET, idLen));
  return { ...cfg, identity, createdAtMs: new Float64Array(buffer, HeaderWord.createdAtMs * 4, 1)[0]!, headerBytes: hb };
}
