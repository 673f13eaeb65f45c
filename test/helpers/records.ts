import { RECORD_HEADER, VALID_FLAG, align8 } from '../../src/channel/layout.js';

/** Payloads laid out as a ring's records (what a replication frame carries after its header). */
export function recordsOf(...payloads: Array<Uint8Array | string>): Uint8Array {
  const parts = payloads.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(parts.reduce((n, p) => n + RECORD_HEADER + align8(p.length), 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, (VALID_FLAG | p.length) >>> 0, true);
    out.set(p, at + RECORD_HEADER);
    at += RECORD_HEADER + align8(p.length);
  }
  return out;
}
