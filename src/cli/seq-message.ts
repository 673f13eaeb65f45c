/**
 * The framing of `shimmy pub --seq` messages, checked by `shimmy sub --verify`, in
 * little-endian u32 words:
 *   magic 'SEQ3' | publisher | seq | checksum | payload
 * `publisher` is a random id per publishing process and `seq` counts that publisher's
 * messages from 0, so a subscriber checks order and gaps per publisher when several publish
 * on one channel. The checksum is FNV-1a seeded with the message length, over publisher,
 * seq and payload, so a torn, truncated or renumbered message fails it. 16 bytes of header:
 * a 16-byte message carries no payload and is still checked.
 */
import { randomBytes } from 'node:crypto';
import { fnv1aBytes } from '../channel/names.js';

export const SEQ_MAGIC = 0x33514553; // 'SEQ3'
/** The magics of earlier formats: 'SEQ1' had no publisher id, 'SEQ2' a 20-byte header. */
const SEQ1_MAGIC = 0x31514553;
const SEQ2_MAGIC = 0x32514553;
export const SEQ_HEADER = 16;

/** The checksum of a frame of `length` bytes at `offset`: publisher, seq and payload. */
function seqChecksum(bytes: Uint8Array, offset: number, length: number): number {
  const seed = Math.imul(0x811c9dc5 ^ length, 0x01000193) >>> 0;
  return fnv1aBytes(bytes, offset + SEQ_HEADER, offset + length, fnv1aBytes(bytes, offset + 4, offset + 12, seed));
}

/** A publisher id for this process's `--seq` messages. */
export function newPublisherId(): number {
  return randomBytes(4).readUInt32LE(0);
}

/** Writes the header for the payload already in out[SEQ_HEADER..]. */
export function writeSeqHeader(out: Uint8Array, publisher: number, seq: number): void {
  setU32(out, 0, SEQ_MAGIC);
  setU32(out, 4, publisher);
  setU32(out, 8, seq);
  setU32(out, 12, seqChecksum(out, 0, out.length));
}

function setU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value;
  out[at + 1] = value >>> 8;
  out[at + 2] = value >>> 16;
  out[at + 3] = value >>> 24;
}

/** Fills `out` (length >= SEQ_HEADER) with a payload derived from seq, and its header. */
export function fillSeqMessage(out: Uint8Array, publisher: number, seq: number): void {
  for (let i = SEQ_HEADER; i < out.length; i++) out[i] = (seq + i) & 0xff;
  writeSeqHeader(out, publisher, seq);
}

/** A new message: the header, then `payload`. */
export function seqFrame(publisher: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SEQ_HEADER + payload.length);
  out.set(payload, SEQ_HEADER);
  writeSeqHeader(out, publisher, seq);
  return out;
}

export type SeqCheck = { ok: true; publisher: number; seq: number } | { ok: false; reason: string };

/** A little-endian u32 at `at`, read without a DataView (no allocation per message). */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Why the message at `bytes[offset .. offset+length)` is not an intact SEQ2 frame, or null. */
function seqFault(bytes: Uint8Array, offset: number, length: number): string | null {
  if (length < SEQ_HEADER) return `message of ${length} bytes is shorter than the ${SEQ_HEADER}-byte seq header`;
  const magic = u32(bytes, offset);
  if (magic === SEQ1_MAGIC || magic === SEQ2_MAGIC)
    return `a SEQ${magic === SEQ1_MAGIC ? 1 : 2} frame, an earlier format: publish with this version of \`shimmy pub --seq\``;
  if (magic !== SEQ_MAGIC) return 'no SEQ3 magic (was it published with --seq?)';
  if (u32(bytes, offset + 12) !== seqChecksum(bytes, offset, length)) return 'checksum mismatch (torn, truncated or corrupted message)';
  return null;
}

export function checkSeqMessage(bytes: Uint8Array, offset: number, length: number): SeqCheck {
  const reason = seqFault(bytes, offset, length);
  return reason === null ? { ok: true, publisher: u32(bytes, offset + 4), seq: u32(bytes, offset + 8) } : { ok: false, reason };
}

/**
 * What `sub --verify` counts: corrupt messages, and per publisher, sequence numbers skipped
 * (gaps) and ones that came after a later one (out of order). A publisher's first message
 * seen sets where it starts: a subscriber sees only what is published after it attached.
 */
export class SeqVerifier {
  gaps = 0;
  outOfOrder = 0;
  corrupt = 0;
  /** The next sequence number expected from each publisher seen. */
  private readonly next = new Map<number, number>();

  /** Publishers seen so far. */
  get publishers(): number {
    return this.next.size;
  }

  /** Checks one message; returns why it is corrupt, or null when it is intact. */
  check(bytes: Uint8Array, offset: number, length: number): string | null {
    const reason = seqFault(bytes, offset, length);
    if (reason !== null) {
      this.corrupt++;
      return reason;
    }
    const publisher = u32(bytes, offset + 4);
    const seq = u32(bytes, offset + 8);
    const want = this.next.get(publisher);
    if (want === undefined) {
      this.next.set(publisher, seq + 1);
      return null;
    }
    if (seq > want) this.gaps += seq - want;
    else if (seq < want) this.outOfOrder++;
    if (seq >= want) this.next.set(publisher, seq + 1);
    return null;
  }
}
