/**
 * Channel identity: validated names and the deterministic System V key that the webhook
 * can compute before a pod has a node.
 */
import { ErrorCode, ShimmyError } from '../errors.js';

/** Kubernetes DNS-1123 label: what namespaces and channel names must be. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const MAX_NAME_LENGTH = 63;

export interface ChannelRef {
  namespace: string;
  name: string;
  /** The SharedMemoryChannel's uid in Kubernetes; empty in standalone mode. */
  uid?: string;
}

export function validateName(kind: 'namespace' | 'channel name', value: string): void {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH || !DNS_LABEL.test(value)) {
    const why = value.length > MAX_NAME_LENGTH ? `is ${value.length} characters long (at most ${MAX_NAME_LENGTH})` : 'is not a DNS-1123 label';
    throw new ShimmyError(
      ErrorCode.INVALID_NAME,
      `The ${kind} ${JSON.stringify(value)} ${why}`,
      'Use lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
    );
  }
}

export function validateRef(ref: ChannelRef): void {
  validateName('namespace', ref.namespace);
  validateName('channel name', ref.name);
  if (ref.uid !== undefined && ref.uid.length > 64) {
    throw new ShimmyError(
      ErrorCode.INVALID_NAME,
      `The channel uid ${JSON.stringify(ref.uid)} is longer than 64 characters`,
      'Pass the SharedMemoryChannel metadata.uid unchanged',
    );
  }
}

/** The identity string stored in the segment header and compared on attach. */
export function identityOf(ref: ChannelRef): string {
  return `${ref.namespace}/${ref.name}${ref.uid ? `@${ref.uid}` : ''}`;
}

/** The channel an identity names (identityOf read back); undefined for a string of another shape. */
export function refOfIdentity(identity: string): ChannelRef | undefined {
  const m = /^([^/]+)\/([^@]+)(?:@(.+))?$/.exec(identity);
  if (!m) return undefined;
  return m[3] ? { namespace: m[1]!, name: m[2]!, uid: m[3] } : { namespace: m[1]!, name: m[2]! };
}

/**
 * 32-bit FNV-1a of `bytes[from..to)`: the project's one implementation (keys, `--seq`
 * checksums, the extender's home nodes). `seed`, an earlier result, continues that hash.
 */
export function fnv1aBytes(bytes: Uint8Array, from = 0, to = bytes.length, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv1a(text: string): number {
  return fnv1aBytes(new TextEncoder().encode(text));
}

/**
 * The System V key for a channel: FNV-1a over a versioned identity, as a signed 32-bit
 * key_t. Never 0 (IPC_PRIVATE). Collisions are possible and caught by the header check.
 */
export function channelKey(ref: ChannelRef): number {
  validateRef(ref);
  const h = fnv1a(`shimmy/v1/${identityOf(ref)}`) || 1;
  return h | 0;
}
