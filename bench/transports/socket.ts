/**
 * Plain Node sockets, TCP on loopback or a Unix domain socket, with length-prefixed frames.
 * The receiver listens; writes are coalesced into 64 KiB chunks, as a tuned app would.
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

export function socketTransport(kind: 'tcp' | 'uds'): Transport {
  return {
    name: kind,
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
      let buf = Buffer.allocUnsafe(65536);
      let used = 0;
      const flushBuf = (): void | Promise<void> => {
        if (used === 0) return;
        const ok = sock.write(buf.subarray(0, used));
        buf = Buffer.allocUnsafe(65536);
        used = 0;
        if (!ok) return new Promise<void>((r) => sock.once('drain', () => r()));
      };
      const sender: Sender = {
        send(msg) {
          if (used + 4 + msg.length > buf.length) {
            const w = flushBuf();
            if (4 + msg.length > buf.length) {
              const frame = Buffer.allocUnsafe(4 + msg.length);
              frame.writeUInt32LE(msg.length, 0);
              frame.set(msg, 4);
              const ok = sock.write(frame);
              return ok ? w : new Promise<void>((r) => sock.once('drain', () => r()));
            }
            if (w) return w.then(() => sender.send(msg));
          }
          buf.writeUInt32LE(msg.length, used);
          buf.set(msg, used + 4);
          used += 4 + msg.length;
          // Small messages are batched; a latency sender flushes each one.
          if (ctx.size >= 4096 || !ctx.batching) return flushBuf();
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
        let pending: Buffer = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          let off = 0;
          while (data.length - off >= 4) {
            const len = data.readUInt32LE(off);
            if (data.length - off - 4 < len) break;
            onMessage(data, off + 4, len);
            off += 4 + len;
          }
          pending = off < data.length ? data.subarray(off) : Buffer.alloc(0);
          data = pending;
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
