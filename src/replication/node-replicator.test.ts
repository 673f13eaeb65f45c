import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Channel } from '../channel/channel.js';
import { channelKey } from '../channel/names.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { BatchWriter } from './batch.js';
import { checkRecords } from '../channel/ring-writer.js';
import { LENGTH_MASK, RECORD_HEADER, VALID_FLAG, recordBytes } from '../channel/layout.js';
import { DEMAND_SHIFT, FLAG_DEMAND, FLAG_FROM_HERE, FLAG_RESEND, HEADER_BYTES, readHeader, writeHeader } from './frames.js';
import { DEMAND } from './demand.js';
import { NodeReplicator } from './node-replicator.js';
import { channelTag } from './tags.js';
import type { UcxWorker } from './ucx.js';
import { recordsOf } from '../../test/helpers/records.js';

const ref = { namespace: 'nr', name: 'unit' };
const key = channelKey(ref);
const EPOCH = 7;
/** The link's MAC (native/shimmy_ucx.c): receive buffers have room for it. */
const MAC_BYTES = 16;
/** Queued as a message that fails the link's MAC. */
const FORGED = new Uint8Array(0);

/**
 * A keyed link to node "b" that delivers what a test queues by tag and records what is sent;
 * a message queued as FORGED fails as the real link fails one without a valid MAC.
 */
function fakeLink() {
  const inbox = new Map<bigint, Uint8Array[]>();
  const sent: { tag: bigint; data: Uint8Array }[] = [];
  const worker = {
    overhead: MAC_BYTES,
    wait: (us: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, us / 1000) === 'ok',
    tryAccept: () => null,
    connect: () => 0,
    describe: () => '',
    isHealthy: () => true,
    closePeer: () => {},
    send: (_peer: number, tag: bigint, data: Uint8Array) => void sent.push({ tag, data: data.slice() }),
    tryRecv: (tag: bigint, _mask: bigint, into: Uint8Array) => {
      const next = inbox.get(tag)?.shift();
      if (!next) return null;
      if (next === FORGED) throw new ShimmyError(ErrorCode.UNAUTHENTICATED, 'a message without a valid MAC', 'Use the cluster key');
      // As the shim does: the message is taken, and its length reported as an error.
      if (next.length + MAC_BYTES > into.length)
        throw new ShimmyError(ErrorCode.MESSAGE_TOO_LARGE, `a ${next.length}-byte message`, 'Receive into a larger buffer');
      into.set(next);
      return { length: next.length, tag };
    },
  } as unknown as UcxWorker;
  const deliver = (tag: bigint, frame: Uint8Array) => inbox.set(tag, [...(inbox.get(tag) ?? []), frame]);
  return { worker, sent, deliver };
}

/** A data frame of `seq` with one message, the one byte `seq` (batch.ts); `length` other than 1 makes it malformed. */
function frame(seq: number, flags = 0, epoch = EPOCH, length = 1): Uint8Array {
  const f = new Uint8Array(HEADER_BYTES + recordBytes(1));
  const view = new DataView(f.buffer);
  writeHeader(view, BigInt(seq), epoch, flags);
  view.setUint32(HEADER_BYTES, (VALID_FLAG | length) >>> 0, true);
  f[HEADER_BYTES + RECORD_HEADER] = seq;
  return f;
}

/** The first byte of each message in a data frame. */
function firstBytes(frame: Uint8Array): number[] {
  expect(checkRecords(frame, HEADER_BYTES, frame.length, 64)).toBeTypeOf('object');
  const view = new DataView(frame.buffer, frame.byteOffset);
  const out: number[] = [];
  for (let at = HEADER_BYTES; at < frame.length; at += recordBytes(view.getUint32(at, true) & LENGTH_MASK)) out.push(frame[at + RECORD_HEADER]!);
  return out;
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(what()).toBe(true);
};

describe('NodeReplicator', () => {
  let dir: string;
  let channel: Channel;
  let stop: AbortController;

  beforeEach(() => {
    dir = mkdtempSync('/dev/shm/shimmy-nr-unit-');
    channel = Channel.createFile(ref, join(dir, 'ring'), { capacity: 65536, maxMessage: 64 });
    stop = new AbortController();
  });

  afterEach(() => {
    stop.abort();
    channel.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(link: ReturnType<typeof fakeLink>, signal = stop.signal) {
    const replicator = new NodeReplicator({
      node: 'a',
      worker: link.worker,
      open: () => Channel.openFile(ref, join(dir, 'ring')),
      peerTimeoutMs: 60_000,
    });
    replicator.configure({
      channels: [{ ref, key, maxMessage: 64, windowBytes: 65536, peers: ['b'] }],
      addresses: [{ node: 'b', ip: '10.0.0.2', port: 7470 }],
    });
    const running = replicator.run(signal).finally(() => replicator.close());
    return { replicator, running };
  }

  it("goes on from what the replicator before it landed: the peer's resends of those frames are dropped, the rest landed once", async () => {
    const sub = channel.subscriber();
    const got: number[] = [];
    const drain = () => sub.poll((bytes, offset) => void got.push(bytes[offset]!));
    const fromB = channelTag(key, 'data', 'b');
    const first = fakeLink();
    const firstStop = new AbortController();
    const before = start(first, firstStop.signal);
    for (let seq = 0; seq < 5; seq++) first.deliver(fromB, frame(seq));
    await until(() => (drain(), got.length >= 5));
    firstStop.abort();
    await before.running;
    // The peer had no acknowledgement of them (or did not believe it): it sends them all again, and two more.
    const second = fakeLink();
    const { replicator } = start(second);
    for (let seq = 0; seq < 7; seq++) second.deliver(fromB, frame(seq));
    await until(() => (drain(), got.length >= 7));
    await new Promise((r) => setTimeout(r, 50));
    drain();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(replicator.report().channels['nr/unit']).toEqual([expect.objectContaining({ landed: 2, repeats: 5, resumes: 1 })]);
  });

  it('drops what comes after a gap, asks for everything from the missing frame again, and lands the resend in order', async () => {
    const link = fakeLink();
    const sub = channel.subscriber();
    const got: number[] = [];
    const { replicator } = start(link);
    const fromB = channelTag(key, 'data', 'b');
    link.deliver(fromB, frame(0));
    link.deliver(fromB, frame(2));
    const resendRequests = () => link.sent.filter((s) => s.tag === channelTag(key, 'ack', 'a') && readHeader(new DataView(s.data.buffer)).flags & FLAG_RESEND);
    await until(() => resendRequests().length > 0);
    expect(readHeader(new DataView(resendRequests()[0]!.data.buffer))).toEqual({ seq: 1n, epoch: EPOCH, flags: FLAG_RESEND });
    for (const seq of [1, 2]) link.deliver(fromB, frame(seq));
    await until(() => {
      sub.poll((bytes, offset) => void got.push(bytes[offset]!));
      return got.length >= 3;
    });
    expect(got).toEqual([0, 1, 2]);
    expect(replicator.report().channels['nr/unit']).toEqual([expect.objectContaining({ landed: 3, repeats: 0, skipped: 0, resendRequests: 1 })]);
  });

  it('sends what one read of the ring gives as one frame, and lands every message of a frame in order', async () => {
    const link = fakeLink();
    const { replicator } = start(link);
    const sub = channel.subscriber();
    const pub = channel.publisher();
    pub.publishBatchSync(
      [1, 2, 3, 4, 5].map((m) => Uint8Array.of(m)),
      5,
    );
    const toB = channelTag(key, 'data', 'a');
    await until(() => link.sent.some((s) => s.tag === toB));
    const sent = link.sent.filter((s) => s.tag === toB);
    expect(sent).toHaveLength(1);
    expect(firstBytes(sent[0]!.data)).toEqual([1, 2, 3, 4, 5]);

    const batch = new BatchWriter(64, 1 << 20);
    for (const m of [7, 8, 9]) batch.add(Uint8Array.of(m), 0, 1);
    link.deliver(channelTag(key, 'data', 'b'), batch.take(0n, EPOCH).data);
    const got: number[] = [];
    await until(() => {
      sub.poll((bytes, offset) => void got.push(bytes[offset]!));
      return got.length >= 8;
    });
    expect(got).toEqual([1, 2, 3, 4, 5, 7, 8, 9]);
    expect(replicator.report().channels['nr/unit']).toEqual([expect.objectContaining({ forwarded: 5, landed: 3 })]);
  });

  it('sends the messages of an overwrite channel (its reader hands out copies, not the ring in place) intact', async () => {
    channel.close();
    rmSync(join(dir, 'ring'));
    channel = Channel.createFile(ref, join(dir, 'ring'), { capacity: 65536, maxMessage: 64, slowConsumer: 'overwrite' });
    const link = fakeLink();
    start(link);
    const messages = [Uint8Array.of(1), Uint8Array.of(2, 22), Uint8Array.of(3, 33, 133)];
    channel.publisher().publishBatchSync(messages, 3);
    const toB = channelTag(key, 'data', 'a');
    await until(() => link.sent.some((s) => s.tag === toB));
    const data = link.sent.find((s) => s.tag === toB)!.data;
    expect(checkRecords(data, HEADER_BYTES, data.length, 64)).toMatchObject({ count: 3 });
    expect(data.subarray(HEADER_BYTES)).toEqual(recordsOf(...messages));
  });

  it('acknowledges every quarter of the window in bytes, not only every 256 frames or when its inbox runs dry', async () => {
    const link = fakeLink();
    const { replicator } = start(link);
    const batch = new BatchWriter(64, 1 << 20);
    const fromB = channelTag(key, 'data', 'b');
    // Four frames of about 20 KB each, all in the inbox at once; the window is 64 KiB.
    for (let seq = 0; seq < 4; seq++) {
      for (let i = 0; i < 300; i++) batch.add(new Uint8Array(64), 0, 64);
      link.deliver(fromB, batch.take(BigInt(seq), EPOCH).data);
    }
    await until(() => replicator.report().channels['nr/unit']?.[0]?.landed === 1200);
    const acks = link.sent.filter((s) => s.tag === channelTag(key, 'ack', 'a')).map((s) => readHeader(new DataView(s.data.buffer)).seq);
    expect(acks.slice(0, 4)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('acknowledges what landed as soon as the next frame finds no room, and not that frame until it lands', async () => {
    const link = fakeLink();
    const sub = channel.subscriber();
    const { replicator } = start(link);
    const batch = new BatchWriter(64, 1 << 20);
    const fromB = channelTag(key, 'data', 'b');
    // 110 records of 72 bytes a frame: eight fit the 64 KiB ring, the ninth waits for the subscriber.
    // (Acknowledged by bytes after frames 2 and 5; then only when blocked.)
    for (let seq = 0; seq < 9; seq++) {
      for (let i = 0; i < 110; i++) batch.add(new Uint8Array(64), 0, 64);
      link.deliver(fromB, batch.take(BigInt(seq), EPOCH).data);
    }
    const acks = () => link.sent.filter((s) => s.tag === channelTag(key, 'ack', 'a')).map((s) => readHeader(new DataView(s.data.buffer)).seq);
    await until(() => acks().length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(replicator.report().channels['nr/unit']![0]!.landed).toBe(880);
    expect(acks().at(-1)).toBe(8n);
    let got = 0;
    await until(() => ((got += sub.poll(() => {})), got >= 990));
    await until(() => acks().at(-1) === 9n);
  });

  it('sends its unacknowledged frames again on a resend request, and marks the first one when it has nothing before it', async () => {
    const link = fakeLink();
    start(link);
    const pub = channel.publisher();
    const toB = channelTag(key, 'data', 'a');
    const dataSent = () =>
      link.sent.filter((s) => s.tag === toB).map((s) => ({ ...readHeader(new DataView(s.data.buffer)), message: s.data[HEADER_BYTES + RECORD_HEADER] }));
    // One at a time, so each goes in a frame of its own.
    for (const [i, m] of [10, 11, 12].entries()) {
      await pub.publish(Uint8Array.of(m));
      await until(() => dataSent().length === i + 1);
    }
    const epoch = dataSent()[0]!.epoch;
    // B landed the first and asks for the rest again; then asks from a frame A let go.
    const ack = (seq: number, flags: number) => {
      const f = new Uint8Array(16);
      writeHeader(new DataView(f.buffer), BigInt(seq), epoch, flags);
      link.deliver(channelTag(key, 'ack', 'b'), f);
    };
    ack(1, FLAG_RESEND);
    await until(() => dataSent().length === 5);
    expect(dataSent().slice(3)).toEqual([
      { seq: 1n, epoch, flags: 0, message: 11 },
      { seq: 2n, epoch, flags: 0, message: 12 },
    ]);
    ack(0, FLAG_RESEND);
    await until(() => dataSent().length === 7);
    expect(dataSent()[5]).toEqual({ seq: 1n, epoch, flags: FLAG_FROM_HERE, message: 11 });
  });
});

describe('NodeReplicator under a hostile sender', () => {
  let dir: string;
  let channel: Channel;
  const stop = new AbortController();

  beforeEach(() => {
    dir = mkdtempSync('/dev/shm/shimmy-nr-hostile-');
    channel = Channel.createFile(ref, join(dir, 'ring'), { capacity: 65536, maxMessage: 64 });
  });

  afterEach(() => {
    stop.abort();
    channel.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lands no frame and takes no acknowledgement that fails the link's MAC, drops malformed ones, and counts them all, logging once", async () => {
    const link = fakeLink();
    const logs: string[] = [];
    const replicator = new NodeReplicator({
      node: 'a',
      worker: link.worker,
      open: () => Channel.openFile(ref, join(dir, 'ring')),
      peerTimeoutMs: 60_000,
      log: (_level, msg) => logs.push(msg),
    });
    replicator.configure({
      channels: [{ ref, key, maxMessage: 64, windowBytes: 65536, peers: ['b'] }],
      addresses: [{ node: 'b', ip: '10.0.0.2', port: 7470 }],
    });
    void replicator.run(stop.signal).finally(() => replicator.close());
    const sub = channel.subscriber();
    const fromB = channelTag(key, 'data', 'b');
    link.deliver(fromB, FORGED);
    link.deliver(fromB, new Uint8Array(70_000));
    link.deliver(fromB, new Uint8Array(HEADER_BYTES - 1));
    // A message length past the frame's end (another epoch, so B's own frame after it is a first one).
    link.deliver(fromB, frame(0, 0, 99, 1000));
    // Acknowledgements of everything, forged or cut short: A must keep its frame for B.
    const pub = channel.publisher();
    await pub.publish(Uint8Array.of(1));
    const toB = channelTag(key, 'data', 'a');
    await until(() => link.sent.some((s) => s.tag === toB));
    const { epoch } = readHeader(new DataView(link.sent.find((s) => s.tag === toB)!.data.buffer));
    const ackAll = new Uint8Array(16);
    writeHeader(new DataView(ackAll.buffer), 1n, epoch, 0);
    link.deliver(channelTag(key, 'ack', 'b'), FORGED);
    link.deliver(channelTag(key, 'ack', 'b'), ackAll.subarray(0, 8));
    // Then B's own frame: it lands.
    link.deliver(fromB, frame(5));
    const got: number[] = [];
    await until(() => {
      sub.poll((bytes, offset, length) => void (length === 1 && got.push(bytes[offset]!)));
      return got.includes(5);
    });
    expect(got).toEqual([1, 5]);
    expect(replicator.report().channels['nr/unit']).toEqual([expect.objectContaining({ landed: 1, rejected: 6, unacknowledged: 1 })]);
    expect(logs.filter((m) => m.includes('not the peer'))).toHaveLength(1);
  });

  it('refuses a UCX worker without a key', () => {
    const worker = { ...fakeLink().worker, overhead: 0 } as unknown as UcxWorker;
    expect(() => new NodeReplicator({ node: 'a', worker, open: () => channel, peerTimeoutMs: 1000 })).toThrow(/has no key/);
  });
});

describe('NodeReplicator, a stream channel', () => {
  it("takes none of its node's messages until the peer asks, then as many as it asked for, and asks for answers while its requester waits", async () => {
    const dir = mkdtempSync('/dev/shm/shimmy-nr-stream-');
    const file = join(dir, 'ring');
    const channel = Channel.createFile(ref, file, { mode: 'stream', capacity: 65536, maxMessage: 64 });
    const stop = new AbortController();
    try {
      const requester = channel.streamEnd('a');
      for (let i = 0; i < 10; i++) expect(requester.tryPublish(Uint8Array.of(i))).toBe(true);
      const link = fakeLink();
      const replicator = new NodeReplicator({ node: 'a', worker: link.worker, open: () => Channel.openFile(ref, file), peerTimeoutMs: 60_000 });
      replicator.configure({
        channels: [{ ref, key, maxMessage: 64, windowBytes: 65536, peers: ['b'], mode: 'stream' }],
        addresses: [{ node: 'b', ip: '10.0.0.2', port: 7470 }],
      });
      const running = replicator.run(stop.signal).finally(() => replicator.close());
      const requests = () => link.sent.filter((s) => s.tag === channelTag(key, 'data', 'a/stream-ring-0'));
      // The requester's side (a) consumes ring 1: node a asks b for answers.
      const asks = () => link.sent.filter((s) => s.tag === channelTag(key, 'ack', 'a/stream-ring-1'));
      await until(() => asks().length > 0);
      expect(readHeader(new DataView(asks()[0]!.data.buffer)).flags).toBe(FLAG_DEMAND | (DEMAND << DEMAND_SHIFT));
      await new Promise((r) => setTimeout(r, 50));
      expect(requests()).toEqual([]);
      // b's consumers of ring 0 ask for 4 (an acknowledgement of nothing yet: epoch 0).
      const ask = new Uint8Array(HEADER_BYTES);
      writeHeader(new DataView(ask.buffer), 0n, 0, FLAG_DEMAND | (4 << DEMAND_SHIFT));
      link.deliver(channelTag(key, 'ack', 'b/stream-ring-0'), ask);
      await until(() => requests().length > 0);
      await new Promise((r) => setTimeout(r, 50));
      expect(requests().flatMap((s) => firstBytes(s.data))).toEqual([0, 1, 2, 3]);
      // The other 6 are still for this node's consumers.
      const worker = channel.streamEnd('b');
      const left: number[] = [];
      worker.take(64, (m) => left.push(m[0]!));
      expect(left).toEqual([4, 5, 6, 7, 8, 9]);
      expect(replicator.report().channels['nr/unit']).toEqual([expect.objectContaining({ peer: 'b', forwarded: 4 })]);
      stop.abort();
      await running;
    } finally {
      stop.abort();
      channel.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
