/**
 * One side of a UCX link (src/replication/ucx.ts), for the link's tests and benchmark:
 *   peer serve IP COUNT SIZE        listens, prints "listening PORT", receives COUNT sequenced
 *                                   messages of SIZE bytes, prints a JSON summary
 *   peer send IP PORT COUNT SIZE    connects, sends them, prints a JSON summary
 *   peer echo IP COUNT SIZE         listens, prints "listening PORT", returns COUNT messages
 *   peer ping IP PORT COUNT SIZE    connects, sends COUNT messages one at a time, each after
 *                                   the previous one came back; prints the one-way latency
 *                                   (half the round trip) percentiles in microseconds
 *   peer mutual IP PORT PEER_IP PEER_PORT
 *                                   listens on PORT, prints "listening", and on SIGUSR2 connects
 *                                   to the peer (sent to both once both listen) with a 1 s
 *                                   timeout, then accepts the peer's connection; prints how
 *                                   long each took
 *   peer relay IP COUNT TARGET_IP TARGET_PORT FLIP
 *                                   listens (with no key), prints "listening PORT", takes COUNT
 *                                   messages as they came (a keyed sender's MAC included), and
 *                                   sends each on to the target with the byte at FLIP (from the
 *                                   end when negative; "none": no byte) flipped: a man in the middle
 * A message carries its sequence number in its first 4 bytes and `seq * 7` in its last 4. With
 * $SHIMMY_LINK_KEY (hex, at least 32 bytes) the link carries a MAC under it on every message.
 */
import { transportsOf, UcxWorker } from '../../src/replication/ucx.js';

const TAG = 0x5348n; // "SH"
const ALL = 0xffffffffffffffffn;
const TIMEOUT_MS = 30_000;
const [mode, ip, ...rest] = process.argv.slice(2);
const key = process.env.SHIMMY_LINK_KEY;
const worker = UcxWorker.open(key ? { key: Buffer.from(key, 'hex') } : {});

function stamp(view: DataView, size: number, seq: number): void {
  view.setUint32(0, seq, true);
  view.setUint32(size - 4, (seq * 7) >>> 0, true);
}

if (mode === 'serve' || mode === 'echo') {
  const [count, size] = rest.map(Number) as [number, number];
  console.log(`listening ${worker.listen(ip!)}`);
  const peer = worker.accept(TIMEOUT_MS);
  const buf = new Uint8Array(size + worker.overhead);
  const view = new DataView(buf.buffer);
  let outOfOrder = 0;
  let corrupt = 0;
  let first = 0;
  for (let expected = 0; expected < count; expected++) {
    const { length } = worker.recv(TAG, ALL, buf, TIMEOUT_MS);
    if (expected === 0) first = performance.now();
    const seq = view.getUint32(0, true);
    if (length !== size || view.getUint32(size - 4, true) !== (seq * 7) >>> 0) corrupt++;
    if (seq !== expected) outOfOrder++;
    if (mode === 'echo') worker.send(peer, TAG, buf.subarray(0, size), TIMEOUT_MS);
  }
  const seconds = (performance.now() - first) / 1000;
  const transports = transportsOf(worker.describe(peer));
  console.log(JSON.stringify({ received: count, outOfOrder, corrupt, transports, mbPerSecond: (count * size) / seconds / 1e6 }));
} else if (mode === 'send' || mode === 'ping') {
  const [port, count, size] = rest.map(Number) as [number, number, number];
  const peer = worker.connect(ip!, port, TIMEOUT_MS);
  const buf = new Uint8Array(size);
  const back = new Uint8Array(size + worker.overhead);
  const view = new DataView(buf.buffer);
  const oneWayUs: number[] = [];
  for (let seq = 0; seq < count; seq++) {
    stamp(view, size, seq);
    const t0 = performance.now();
    worker.send(peer, TAG, buf, TIMEOUT_MS);
    if (mode === 'ping') {
      worker.recv(TAG, ALL, back, TIMEOUT_MS);
      oneWayUs.push(((performance.now() - t0) * 1000) / 2);
    }
  }
  worker.flush(TIMEOUT_MS);
  const transports = transportsOf(worker.describe(peer));
  oneWayUs.sort((x, y) => x - y);
  const at = (q: number) => oneWayUs[Math.min(oneWayUs.length - 1, Math.floor(q * oneWayUs.length))];
  console.log(JSON.stringify({ sent: count, transports, ...(mode === 'ping' ? { p50Us: at(0.5), p99Us: at(0.99) } : {}) }));
} else if (mode === 'mutual') {
  const [port, peerIp, peerPort] = rest;
  // The timer keeps the process up while it waits for the signal (60 s at most).
  let giveUp: NodeJS.Timeout | undefined;
  const go = new Promise((resolve, reject) => {
    process.once('SIGUSR2', resolve);
    giveUp = setTimeout(() => reject(new Error('no SIGUSR2 within 60 s')), 60_000);
  });
  worker.listen(ip!, Number(port));
  console.log('listening');
  await go;
  clearTimeout(giveUp);
  const started = performance.now();
  worker.connect(peerIp!, Number(peerPort), 1000);
  const connectMs = performance.now() - started;
  worker.accept(TIMEOUT_MS);
  console.log(JSON.stringify({ connectMs, acceptMs: performance.now() - started }));
} else if (mode === 'relay') {
  const [count, targetIp, targetPort, flip] = rest;
  console.log(`listening ${worker.listen(ip!)}`);
  worker.accept(TIMEOUT_MS);
  const target = worker.connect(targetIp!, Number(targetPort), TIMEOUT_MS);
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < Number(count); i++) {
    const { length } = worker.recv(TAG, ALL, buf, TIMEOUT_MS);
    if (flip !== 'none') buf[Number(flip) < 0 ? length + Number(flip) : Number(flip)]! ^= 1;
    worker.send(target, TAG, buf.subarray(0, length), TIMEOUT_MS);
  }
  worker.flush(TIMEOUT_MS);
  console.log(JSON.stringify({ relayed: Number(count) }));
} else {
  console.error(
    'usage: peer serve|echo IP COUNT SIZE | peer send|ping IP PORT COUNT SIZE | peer mutual IP PORT PEER_IP PEER_PORT | peer relay IP COUNT TARGET_IP TARGET_PORT FLIP',
  );
  process.exit(2);
}
worker.close();
