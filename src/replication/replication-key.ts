/**
 * The cluster's replication key: every agent has the same one (the chart's Secret), and the
 * UCX link between agents (native/shimmy_ucx.c) ends every message in a MAC over the message's
 * tag and body under a key derived from it: AES-256-GMAC under a key of the sending process's
 * own. A process that reaches a replication port without it can put no message into a
 * channel, acknowledge no frame away and ask for no resend: what it sends is dropped and
 * counted. Messages are authenticated, not encrypted.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCode, ShimmyError } from '../errors.js';

export const MIN_KEY_BYTES = 32;

const tooShort = (bytes: number, where: string) =>
  new ShimmyError(
    ErrorCode.INVALID_ARGUMENT,
    `the replication key${where} has ${bytes} bytes; it needs at least ${MIN_KEY_BYTES}`,
    'Make one with `head -c 48 /dev/urandom | base64` (the chart makes its own Secret)',
  );

/** The link's own key, derived from the cluster key, so the cluster key could serve another purpose without the two meeting. */
export function linkKey(clusterKey: Uint8Array): Uint8Array {
  if (clusterKey.byteLength < MIN_KEY_BYTES) throw tooShort(clusterKey.byteLength, '');
  return new Uint8Array(hkdfSync('sha256', clusterKey, new Uint8Array(0), 'shimmy replication link v1', 32));
}

/** Reads a replication key file: its bytes, trailing whitespace cut (a Secret's value as mounted, or base64 text made by hand). */
export function readKeyFile(path: string): Uint8Array {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read the replication key file ${path}: ${(err as Error).message}`,
      'Mount the key Secret there (the chart does)',
    );
  }
  let end = text.length;
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d || text[end - 1] === 0x20)) end--;
  if (end < MIN_KEY_BYTES) throw tooShort(end, ` in ${path}`);
  return new Uint8Array(text.subarray(0, end));
}
