/**
 * One side of a benchmark run, in its own process (started by runner.ts with a JSON config
 * in argv[2]; talks back over the IPC channel). Roles: sub/pub for throughput, pong/ping
 * for latency.
 */
import { monotonicMs } from '../src/clock.js';
import { TRANSPORTS } from './transports/index.js';
import { benchMessage, checksum, repeatedChecksum, throughputBatch, type Endpoints, type Sender } from './transports/transport.js';

export interface WorkerConfig {
  role: 'sub' | 'pub' | 'ping' | 'pong';
  transport: string;
  size: number;
  count: number;
  runId: string;
  endpoints: Endpoints;
  budgetMs: number;
  /** Untimed messages sent first, so JIT compilation and connection set-up are not timed. */
  warmup: number;
}

export type WorkerReport =
  | { type: 'ready' }
  | { type: 'warm' }
  /** `msgChecksum`: checksum() of the one message sent; `checksum`: of all `sent` (mod 2^32). */
  | { type: 'pub-done'; startedAt: number; endedAt: number; sent: number; msgChecksum: number; checksum: number }
  /** `checksum`: the sum (mod 2^32) of checksum() over every byte of the `received` messages. */
  | { type: 'sub-done'; received: number; bytes: number; lastAt: number; checksum: number }
  | { type: 'ping-done'; oneWayUs: number[] }
  | { type: 'error'; message: string };

const now = monotonicMs;
const send = (r: WorkerReport) => process.send!(r);

async function main(cfg: WorkerConfig): Promise<void> {
  const t = TRANSPORTS[cfg.transport];
  if (!t) throw new Error(`unknown transport ${cfg.transport}`);
  const latency = cfg.role === 'ping' || cfg.role === 'pong';
  const ctx = { endpoints: cfg.endpoints, size: cfg.size, runId: cfg.runId, batching: !latency };

  if (cfg.role === 'sub') {
    let received = 0;
    let bytes = 0;
    let lastAt = 0;
    let expected = cfg.warmup + cfg.count;
    let stop = false;
    process.on('message', (m: { expect?: number; stop?: boolean }) => {
      if (m.expect !== undefined) expected = cfg.warmup + m.expect;
      if (m.stop) stop = true;
    });
    let sum = 0;
    const rx = await t.receiver(ctx, 'data', (b, o, len) => {
      // Every byte is read, as a consumer of the data would (shm hands out views in place;
      // the kernel copies socket bytes), warm-up messages included, so the JIT has it ready.
      const c = checksum(b, o, len);
      received++;
      if (received === cfg.warmup) send({ type: 'warm' });
      else if (received > cfg.warmup) {
        bytes += len;
        sum = (sum + c) | 0;
      }
      if (received >= expected) lastAt = now();
    });
    send({ type: 'ready' });
    const done = () => stop || received >= expected;
    if (t.pump) await t.pump(done);
    else while (!done()) await new Promise((r) => setTimeout(r, 1));
    if (received < expected || lastAt === 0) lastAt = now();
    send({ type: 'sub-done', received: Math.max(0, received - cfg.warmup), bytes, lastAt, checksum: sum >>> 0 });
    await rx.close();
    return;
  }

  if (cfg.role === 'pub') {
    const tx = await t.sender(ctx, 'data');
    const msg = benchMessage(cfg.size);
    const msgChecksum = checksum(msg, 0, msg.length);
    // Batches as large as the socket transports' 64 KiB writes, for every transport that can
    // take one; the time budget is checked once a batch (every message from 4 KiB up).
    const batch = throughputBatch(cfg.size);
    const msgs: Uint8Array[] = new Array<Uint8Array>(batch).fill(msg);
    const sendSome = (n: number): void | Promise<void> => {
      if (tx.sendBatch) return tx.sendBatch(msgs, n);
      for (let i = 0; i < n; i++) {
        const w = tx.send(msg);
        if (w) return w.then(() => sendSome(n - i - 1));
      }
    };
    for (let sent = 0; sent < cfg.warmup;) {
      const n = Math.min(batch, cfg.warmup - sent);
      const w = sendSome(n);
      if (w) await w;
      sent += n;
    }
    await tx.flush();
    const go = new Promise((resolve) => process.once('message', resolve));
    send({ type: 'warm' });
    await go;
    const startedAt = now();
    const deadline = performance.now() + cfg.budgetMs;
    let sent = 0;
    while (sent < cfg.count) {
      const n = Math.min(batch, cfg.count - sent);
      const w = sendSome(n);
      if (w) await w;
      sent += n;
      if (performance.now() > deadline) break;
    }
    await tx.flush();
    send({ type: 'pub-done', startedAt, endedAt: now(), sent, msgChecksum, checksum: repeatedChecksum(msgChecksum, sent) });
    await tx.close();
    return;
  }

  if (cfg.role === 'pong') {
    // Listen first and report ready; the reply sender connects to the pinger's listener,
    // which exists only once the pinger runs.
    let tx: Sender | null = null;
    let reply: Uint8Array = new Uint8Array(cfg.size);
    let pending = 0;
    let stop = false;
    process.on('message', (m: { stop?: boolean }) => {
      if (m.stop) stop = true;
    });
    const rx = await t.receiver(ctx, 'ping', (b, o, len) => {
      if (reply.length !== len) reply = new Uint8Array(len);
      reply.set(b.subarray(o, o + len));
      pending++;
      if (!t.pump && tx) {
        pending--;
        void tx.send(reply);
      }
    });
    send({ type: 'ready' });
    tx = await t.sender(ctx, 'pong');
    for (; pending > 0 && !t.pump; pending--) void tx.send(reply);
    if (t.pump) {
      while (!stop) {
        await t.pump(() => pending > 0 || stop);
        while (pending > 0) {
          pending--;
          const w = tx.send(reply);
          if (w) await w;
        }
      }
    } else {
      while (!stop) await new Promise((r) => setTimeout(r, 10));
    }
    await rx.close();
    await tx.close();
    return;
  }

  // ping
  const tx = await t.sender(ctx, 'ping');
  let got = 0;
  let resolveReply: (() => void) | null = null;
  const msg = benchMessage(cfg.size, 1);
  const want = checksum(msg, 0, msg.length);
  let corrupt = 0;
  const rx = await t.receiver(ctx, 'pong', (b, o, len) => {
    // The reply is read too (the ponger echoes the ping): every receiver touches every byte.
    if (len !== msg.length || checksum(b, o, len) !== want) corrupt++;
    got++;
    resolveReply?.();
  });
  const samples: number[] = [];
  const warmup = Math.min(1000, Math.max(10, Math.floor(cfg.count / 10)));
  const deadline = performance.now() + cfg.budgetMs;
  for (let i = 0; i < warmup + cfg.count; i++) {
    const next = got + 1;
    const t0 = performance.now();
    const w = tx.send(msg);
    if (w) await w;
    if (t.pump) await t.pump(() => got >= next);
    else if (got < next) {
      await new Promise<void>((r) => {
        resolveReply = r;
      });
      resolveReply = null;
    }
    const rtt = performance.now() - t0;
    if (i >= warmup) samples.push((rtt * 1000) / 2);
    if (performance.now() > deadline && samples.length >= 100) break;
  }
  if (corrupt) throw new Error(`checksum mismatch: ${corrupt} of ${got} replies differ from what was sent`);
  send({ type: 'ping-done', oneWayUs: samples });
  await rx.close();
  await tx.close();
}

// Never outlive the parent: it may have been killed without cleaning up.
process.on('disconnect', () => process.exit(1));

main(JSON.parse(process.argv[2]!) as WorkerConfig).then(
  () => setTimeout(() => process.exit(0), 50),
  (err: Error) => {
    send({ type: 'error', message: err?.stack ?? String(err) });
    setTimeout(() => process.exit(1), 50);
  },
);
