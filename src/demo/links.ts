/**
 * How frames move between two demo stages: a Shimmy pub/sub channel (frames written in place
 * into the ring, read in place from it) or a TCP connection (length-prefixed; on loopback
 * locally, pod IP to pod IP in the cluster).
 */
import { createServer, connect, type Socket } from 'node:net';
import type { Channel } from '../channel/channel.js';

/** Writes a frame into `out` (at most `max` bytes) and returns the length used. */
export type Fill = (out: Uint8Array) => number;

export interface OutLink {
  /** Sends now if there is room; false when the receiver is behind. */
  trySend(max: number, fill: Fill): boolean;
  /** Sends, waiting for room. */
  send(max: number, fill: Fill): Promise<void>;
  /** Resolves once everything sent has left this process. */
  close(): Promise<void>;
}

export interface InLink {
  /** Calls `handle` for each frame (valid only during the call) until `until()` is true. */
  run(handle: (frame: Uint8Array) => void, until: () => boolean): Promise<void>;
  close(): void;
}

/** Publishes into `ch`, and closes it with the link. */
export function shmOut(ch: Channel): OutLink {
  const pub = ch.publisher();
  return {
    trySend(max, fill) {
      const claim = pub.tryClaim(max);
      if (!claim) return false;
      claim.commit(fill(claim.bytes));
      return true;
    },
    async send(max, fill) {
      const claim = await pub.claim(max);
      claim.commit(fill(claim.bytes));
    },
    async close() {
      pub.close();
      ch.close();
    },
  };
}

/** Subscribes to `ch`, and closes it with the link. */
export function shmIn(ch: Channel): InLink {
  const sub = ch.subscriber();
  return {
    async run(handle, until) {
      const h = (bytes: Uint8Array, offset: number, length: number) => handle(bytes.subarray(offset, offset + length));
      while (!until()) {
        if (sub.poll(h, 1) === 0) await sub.wait({ timeoutMs: 100 }).catch(() => {});
      }
    },
    close() {
      sub.close();
      ch.close();
    },
  };
}

export async function tcpOut(to: { host: string; port: number }): Promise<OutLink> {
  const sock: Socket = await new Promise((resolve, reject) => {
    const s = connect(to.port, to.host);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let writable = true;
  sock.on('drain', () => {
    writable = true;
  });
  const write = (max: number, fill: Fill): boolean => {
    if (buf.length < 4 + max) buf = Buffer.alloc(4 + max);
    const len = fill(buf.subarray(4, 4 + max));
    buf.writeUInt32LE(len, 0);
    // The socket keeps the buffer until written: hand it a copy, as an app would.
    writable = sock.write(Buffer.from(buf.subarray(0, 4 + len)));
    return true;
  };
  return {
    trySend(max, fill) {
      return writable && write(max, fill);
    },
    async send(max, fill) {
      if (!writable) await new Promise((r) => sock.once('drain', r));
      write(max, fill);
    },
    close() {
      return new Promise<void>((resolve) => sock.end(resolve));
    },
  };
}

/** Listens (default: a free loopback port); returns the port and the link that reads from it. */
export async function tcpIn(at: { host: string; port: number } = { host: '127.0.0.1', port: 0 }): Promise<{ port: number; link: InLink }> {
  const frames: Buffer[] = [];
  let wake: (() => void) | null = null;
  const server = createServer((sock) => {
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
        const len = pending.readUInt32LE(0);
        frames.push(pending.subarray(4, 4 + len));
        pending = pending.subarray(4 + len);
      }
      wake?.();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    link: {
      async run(handle, until) {
        while (!until()) {
          const f = frames.shift();
          if (f) handle(f);
          else await new Promise<void>((r) => ((wake = r), setTimeout(r, 100)));
        }
      },
      close() {
        server.close();
      },
    },
  };
}
