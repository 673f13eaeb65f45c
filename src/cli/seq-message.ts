/**
 * The framing of `shimmy pub --seq` messages, checked by `shimmy sub --verify`:
 *   magic u32 'SEQ1' | seq u32 | length u32 | checksum u32 (FNV-1a of the payload) | payload
 */
export const SEQ_MAGIC = 0x31514553;
export const SEQ_HEADER = 16;

function checksum(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** Writes the header for the payload already in out[SEQ_HEADER..]. */
export function writeSeqHeader(out: Uint8Array, seq: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(0, SEQ_MAGIC, true);
  dv.setUint32(4, seq >>> 0, true);
  dv.setUint32(8, out.length, true);
  dv.setUint32(12, checksum(out, SEQ_HEADER, out.length), true);
}

/** Fills `out` (length >= SEQ_HEADER) with a payload derived from seq, and its header. */
export function fillSeqMessage(out: Uint8Array, seq: number): void {
  for (let i = SEQ_HEADER; i < out.length; i++) out[i] = (seq + i) & 0xff;
  writeSeqHeader(out, seq);
}

/** A new message: the header, then `payload`. */
export function seqFrame(seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SEQ_HEADER + payload.length);
  out.set(payload, SEQ_HEADER);
  writeSeqHeader(out, seq);
  return out;
}

export type SeqCheck = { ok: true; seq: number } | { ok: false; reason: string };

export function checkSeqMessage(bytes: Uint8Array, offset: number, length: number): SeqCheck {
  if (length < SEQ_HEADER) return { ok: false, reason: `message of ${length} bytes is shorter than the seq header` };
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  if (dv.getUint32(0, true) !== SEQ_MAGIC) return { ok: false, reason: 'no SEQ1 magic (was it published with --seq?)' };
  if (dv.getUint32(8, true) !== length) return { ok: false, reason: `length field ${dv.getUint32(8, true)} but ${length} bytes received` };
  if (dv.getUint32(12, true) !== checksum(bytes, offset + SEQ_HEADER, offset + length)) return { ok: false, reason: 'checksum mismatch (torn or corrupted payload)' };
  return { ok: true, seq: dv.getUint32(4, true) };
}
