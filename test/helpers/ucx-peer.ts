/**
 * One side of a UCX link, for tests across hosts:
 *   ucx-peer serve IP COUNT SIZE          listens, prints "listening PORT", receives COUNT
 *                                         sequenced messages of SIZE bytes, prints a JSON summary
 *   ucx-peer send IP PORT COUNT SIZE      connects, sends them, prints a JSON summary
 * A message carries its sequence number in its first 4 bytes and `seq * 7` in its last 4.
 */
import { transportsOf, UcxWorker } from '../../src/replication/ucx.js';

const TAG = 0x5348n; // "SH"
const [mode, ip, ...rest] = process.argv.slice(2);
const worker = UcxWorker.open();
const started = performance.now();

if (mode === 'serve') {
  const [count, size] = rest.map(Number) as [number, number];
  console.log(`listening ${worker.listen(ip!)}`);
  const peer = worker.accept(30_000);
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  let received = 0;
  let outOfOrder = 0;
  let corrupt = 0;
  for (let expected = 0; received < count; expected++) {
    const { length } = worker.recv(TAG, ~0n & 0xffffffffffffffffn, buf, 30_000);
    const seq = view.getUint32(0, true);
    if (length !== size || view.getUint32(size - 4, true) !== (seq * 7) >>> 0) {
      if (corrupt < 3) console.error(JSON.stringify({ length, seq, tail: view.getUint32(size - 4, true), bytes: [...buf] }));
      corrupt++;
    }
    if (seq !== expected) outOfOrder++;
    received++;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ received, outOfOrder, corrupt, transports: transportsOf(worker.describe(peer)), seconds }));
} else if (mode === 'send') {
  const [port, count, size] = rest.map(Number) as [number, number, number];
  const peer = worker.connect(ip!, port, 30_000);
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  for (let seq = 0; seq < count; seq++) {
    view.setUint32(0, seq, true);
    view.setUint32(size - 4, (seq * 7) >>> 0, true);
    worker.send(peer, TAG, buf, 30_000);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ sent: count, transports: transportsOf(worker.describe(peer)), seconds }));
} else {
  console.error('usage: ucx-peer serve IP COUNT SIZE | ucx-peer send IP PORT COUNT SIZE');
  process.exit(2);
}
worker.close();
