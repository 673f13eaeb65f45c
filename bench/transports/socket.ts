/**
 * Plain Node sockets, TCP on loopback or a Unix domain socket, with length-prefixed frames.
 * The receiver listens; writes are coalesced into 64 KiB chunks, as a tuned app would, and
 * frames above that go out as one writev of length and message.
 */
import { createServer, connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { Sender, Transport, WorkerContext } from './transport.js';

function address(kind: 'tcp' | 'uds', ctx: WorkerContext, topic: string): { port?: number; path?: string; host?: string } {
  if (kind === 'uds') return { path: `/tmp/shimmy-bench-${ctx.runId}-${topic}.sock` };
  const port = Number(ctx.endpoints[`tcp-${topic}`]);
  if (!port) throw new Error(`no TCP port allocated for topic ${topic}`);
  return { host: '127.0.0.1', port };
}

/** The write size small frames are coalesced into. */
const CHUNK = 65536;

export function socketTransport(kind: 'tcp' | 'uds'): Transport {
  return {
    name: kind,
    idle: 'event loop (epoll)',
    description: kind === 'tcp' ? 'Node TCP sockets on loopback, length-prefixed frames' : 'Node Unix domain sockets, length-prefixed frames',
    async sender(ctx, topic): Promise<Sender> {
      const addr = address(kind, ctx, topic);
      const sock: Socket = await new Promise((resolve, reject) => {
        const deadline = Date.now() + 10_000;
        const attempt = () => {
          const s = addr.path ? connect(addr.path) : connect(addr.port!, addr.host!);
          s.once('connect', () => resolve(s));
          s.once('error', (e) => (Date.now() < deadline ? setTimeout(attempt, 20) : reject(e)));
        };
        attempt();
      });
      sock.setNoDelay(true);
      const drained = () => new Promise<void>((r) => sock.once('drain', () => r()));
      let buf = Buffer.allocUnsafe(CHUNK);
      let used = 0;
      const flushBuf = (): void | Promise<void> => {
        if (used === 0) return;
        const ok = sock.write(buf.subarray(0, used));
        // Nothing left queued: the kernel took all of it, and the chunk can be reused.
        if (sock.writableLength !== 0) buf = Buffer.allocUnsafe(CHUNK);
        used = 0;
        if (!ok) return drained();
      };
      // A frame larger than the chunk goes out as its length and the message itself in one
      // writev (cork/uncork), without copying it first. The message must not change before
      // it is written; the workers never change a message they sent.
      const writeLarge = (msg: Uint8Array): void | Promise<void> => {
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32LE(msg.length, 0);
        sock.cork();
        sock.write(head);
        const ok = sock.write(msg);
        sock.uncork();
        if (!ok) return drained();
      };
      /** Frames msgs[from..count) into the chunk, writing each full chunk; then the rest. */
      const frame = (msgs: readonly Uint8Array[], from: number, count: number, writeRest: boolean): void | Promise<void> => {
        for (let i = from; i < count; i++) {
          const msg = msgs[i]!;
          if (used + 4 + msg.length > CHUNK) {
            const w = flushBuf();
            if (4 + msg.length > CHUNK) {
              const big = w ? w.then(() => writeLarge(msg)) : writeLarge(msg);
              if (big) return big.then(() => frame(msgs, i + 1, count, writeRest));
              continue;
            }
            if (w) return w.then(() => frame(msgs, i, count, writeRest));
          }
          buf.writeUInt32LE(msg.length, used);
          buf.set(msg, used + 4);
          used += 4 + msg.length;
        }
        if (writeRest) return flushBuf();
      };
      const sender: Sender = {
        send(msg) {
          // Small throughput messages are coalesced into 64 KiB writes; others go at once.
          return frame([msg], 0, 1, ctx.size >= 4096 || !ctx.batching);
        },
        sendBatch(msgs, count) {
          // One write per full chunk, and what is left at the end of the batch.
          return frame(msgs, 0, count, true);
        },
        async flush() {
          await flushBuf();
        },
        async close() {
          await flushBuf();
          await new Promise<void>((r) => sock.end(() => r()));
        },
      };
      return sender;
    },
    async receiver(ctx, topic, onMessage) {
      const addr = address(kind, ctx, topic);
      if (addr.path) rmSync(addr.path, { force: true });
      const server = createServer((sock) => {
        // A frame split across reads is assembled in its own buffer (each byte copied once);
        // whole frames are handed over in place, from the read chunk.
        const head = Buffer.alloc(4);
        let frame: Buffer | null = null;
        let have = 0;
        sock.on('data', (chunk: Buffer) => {
          let off = 0;
          if (have > 0) {
            if (have < 4) {
              const take = Math.min(4 - have, chunk.length);
              chunk.copy(head, have, 0, take);
              have += take;
              off = take;
              if (have < 4) return;
              frame = Buffer.allocUnsafe(4 + head.readUInt32LE(0));
              head.copy(frame, 0);
            }
            const f = frame!;
            const take = Math.min(f.length - have, chunk.length - off);
            chunk.copy(f, have, off, off + take);
            have += take;
            off += take;
            if (have < f.length) return;
            frame = null;
            have = 0;
            onMessage(f, 4, f.length - 4);
          }
          while (chunk.length - off >= 4) {
            const len = chunk.readUInt32LE(off);
            if (chunk.length - off - 4 < len) break;
            onMessage(chunk, off + 4, len);
            off += 4 + len;
          }
          if (off < chunk.length) {
            have = chunk.length - off;
            if (have < 4) chunk.copy(head, 0, off);
            else {
              frame = Buffer.allocUnsafe(4 + chunk.readUInt32LE(off));
              chunk.copy(frame, 0, off);
            }
          }
        });
      });
      await new Promise<void>((resolve) => (addr.path ? server.listen(addr.path, resolve) : server.listen(addr.port!, addr.host!, resolve)));
      return {
        async close() {
          server.close();
          if (addr.path) rmSync(addr.path, { force: true });
        },
      };
    },
  };
}
