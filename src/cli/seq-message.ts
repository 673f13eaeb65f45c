/**
 * The framing of `shimmy pub --seq` messages, checked by `shimmy sub --verify`, in
 * little-endian u32 words:
 *   magic 'SEQ2' | publisher | seq | length | checksum (FNV-1a of the payload) | payload
 * `publisher` is a random id per publishing process and `seq` counts that publisher's
 * messages from 0, so a subscriber checks order and gaps per publisher when several publish
 * on one channel.
 */
import { randomBytes } from 'node:crypto';
import { fnv1aBytes } from '../channel/names.js';

export const SEQ_MAGIC = 0x32514553; // 'SEQ2'
/** The magic of the first format, which had no publisher id. */
const SEQ1_MAGIC = 0x31514553;
export const SEQ_HEADER = 20;

/** A publisher id for this process's `--seq` messages. */
export function newPublisherId(): number {
  return randomBytes(4).readUInt32LE(0);
}

/** Writes the header for the payload already in out[SEQ_HEADER..]. */
export function writeSeqHeader(out: Uint8Array, publisher: number, seq: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(0, SEQ_MAGIC, true);
  dv.setUint32(4, publisher >>> 0, true);
  dv.setUint32(8, seq >>> 0, true);
  dv.setUint32(12, out.length, true);
  dv.setUint32(16, fnv1aBytes(out, SEQ_HEADER, out.length), true);
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

export function checkSeqMessage(bytes: Uint8Array, offset: number, length: number): SeqCheck {
  if (length < SEQ_HEADER) return { ok: false, reason: `message of ${length} bytes is shorter than the ${SEQ_HEADER}-byte seq header` };
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  const magic = dv.getUint32(0, true);
  if (magic === SEQ1_MAGIC) return { ok: false, reason: 'a SEQ1 frame, without a publisher id: publish with this version of `shimmy pub --seq`' };
  if (magic !== SEQ_MAGIC) return { ok: false, reason: 'no SEQ2 magic (was it published with --seq?)' };
  if (dv.getUint32(12, true) !== length) return { ok: false, reason: `length field ${dv.getUint32(12, true)} but ${length} bytes received` };
  if (dv.getUint32(16, true) !== fnv1aBytes(bytes, offset + SEQ_HEADER, offset + length))
    return { ok: false, reason: 'checksum mismatch (torn or corrupted payload)' };
  return { ok: true, publisher: dv.getUint32(4, true), seq: dv.getUint32(8, true) };
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
    const c = checkSeqMessage(bytes, offset, length);
    if (!c.ok) {
      this.corrupt++;
      return c.reason;
    }
    const want = this.next.get(c.publisher);
    if (want === undefined) {
      this.next.set(c.publisher, c.seq + 1);
      return null;
    }
    if (c.seq > want) this.gaps += c.seq - want;
    else if (c.seq < want) this.outOfOrder++;
    if (c.seq >= want) this.next.set(c.publisher, c.seq + 1);
    return null;
  }
}
