/**
 * What each benchmarked transport provides inside a worker process. `send` returns a
 * promise only when the transport asks the sender to wait (back-pressure).
 */
export interface Endpoints {
  /** host:port or socket path per broker, filled by the peer that was started. */
  [key: string]: string;
}

export type OnMessage = (bytes: Uint8Array, offset: number, length: number) => void;

export interface Sender {
  send(msg: Uint8Array): void | Promise<void>;
  /**
   * Sends `count` messages of `msgs` (from index 0) with one call, where the transport has a
   * batch path; the worker uses it for throughput runs when present.
   */
  sendBatch?(msgs: readonly Uint8Array[], count: number): void | Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Receiver {
  close(): Promise<void>;
}

export interface WorkerContext {
  endpoints: Endpoints;
  size: number;
  /** Unique per run, so topics and channels never see a previous run's messages. */
  runId: string;
  /** Throughput senders may batch; latency (ping-pong) senders must send each message now. */
  batching: boolean;
}

export interface Transport {
  name: string;
  description: string;
  /** How its receiver waits for the next message, in words ("busy-spin", "event loop (epoll)"). */
  idle?: string;
  sender(ctx: WorkerContext, topic: string): Promise<Sender>;
  receiver(ctx: WorkerContext, topic: string, onMessage: OnMessage): Promise<Receiver>;
  /**
   * Optional tight loop for receivers that poll instead of being called back (shared
   * memory): returns when `until()` is true.
   */
  pump?(until: () => boolean): Promise<void>;
}

/**
 * Messages per sendBatch call in throughput runs: what the socket transports coalesce into
 * one 64 KiB write (length-prefixed frames of size + 4 bytes) under 4 KiB, else one.
 */
export function throughputBatch(size: number): number {
  return size < 4096 ? Math.max(1, Math.floor(65536 / (size + 4))) : 1;
}

/** A benchmark message: a pattern that varies byte to byte, so misframed bytes change the checksum. */
export function benchMessage(size: number, seed = 0): Uint8Array {
  const msg = new Uint8Array(size);
  for (let i = 0; i < size; i++) msg[i] = (i * 131 + seed * 31 + 17) & 0xff;
  return msg;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Views over the last ArrayBuffer checksummed (socket chunks and shm segments repeat). */
let wordsOf: ArrayBufferLike | null = null;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);
let viewOf: ArrayBufferLike | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * The checksum every benchmark receiver computes over each message, so every transport's
 * receiver touches every byte: the sum, modulo 2^32, of the message's bytes read as
 * little-endian 32-bit words from its first byte (a last partial word padded with zeros).
 * Covers exactly bytes [offset, offset + length) of `bytes`, whatever their alignment.
 * The sum of many messages is the sum of their checksums modulo 2^32.
 */
export function checksum(bytes: Uint8Array, offset: number, length: number): number {
  const end = offset + length;
  let i = offset;
  let s = 0;
  const at = bytes.byteOffset + offset;
  if (length >= 64 && (at & 3) === 0 && LITTLE_ENDIAN) {
    // Aligned: whole words through an Int32Array, four sums for instruction-level parallelism.
    const buf = bytes.buffer;
    if (buf !== wordsOf) {
      words = new Int32Array(buf, 0, buf.byteLength >>> 2);
      wordsOf = buf;
    }
    const w = words;
    let k = at >>> 2;
    const kEnd = k + (length >>> 2);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (; k + 4 <= kEnd; k += 4) {
      s0 = (s0 + w[k]!) | 0;
      s1 = (s1 + w[k + 1]!) | 0;
      s2 = (s2 + w[k + 2]!) | 0;
      s3 = (s3 + w[k + 3]!) | 0;
    }
    for (; k < kEnd; k++) s0 = (s0 + w[k]!) | 0;
    s = (s0 + s1 + s2 + s3) | 0;
    i = offset + (length & ~3);
  } else if (length >= 64) {
    // Unaligned: a DataView reads little-endian words at any offset (about 2.5x a byte loop).
    const buf = bytes.buffer;
    if (buf !== viewOf) {
      view = new DataView(buf);
      viewOf = buf;
    }
    const v = view;
    let k = at;
    const kEnd = at + (length & ~7);
    let s0 = 0;
    let s1 = 0;
    for (; k < kEnd; k += 8) {
      s0 = (s0 + v.getInt32(k, true)) | 0;
      s1 = (s1 + v.getInt32(k + 4, true)) | 0;
    }
    s = (s0 + s1) | 0;
    i = offset + (length & ~7);
  }
  for (; i + 4 <= end; i += 4) s = (s + (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) | 0;
  for (let shift = 0; i < end; i++, shift += 8) s = (s + (bytes[i]! << shift)) | 0;
  return s >>> 0;
}

/** The checksum of `count` copies of a message whose checksum is `one` (modulo 2^32). */
export function repeatedChecksum(one: number, count: number): number {
  // Math.imul keeps the low 32 bits of the product, and takes count modulo 2^32 first.
  return Math.imul(one, count) >>> 0;
}
