/**
 * Broker peers, each with its most-used maintained Node client: MQTT.js against Mosquitto
 * (QoS 0), @nats-io/transport-node against nats-server, ioredis pub/sub against Redis,
 * kafkajs against a KRaft Kafka broker (acks=1, no linger).
 *
 * Throughput publishers get flow control as good as the socket transports': writes of about
 * 64 KiB (the sockets' chunk), and a bounded window of bytes in flight to the broker that
 * the publisher waits on only when it is full, never a fixed message count or a timer.
 */
import type { Writable } from 'node:stream';
import type { Sender, Transport } from './transport.js';

/** About what the socket transports write at once. */
const CHUNK = 64 * 1024;
/** Bytes a publisher may have sent that the broker has not confirmed (a loopback socket buffer's worth). */
const WINDOW = 1024 * 1024;

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const drained = (stream: Writable) => new Promise<void>((r) => stream.once('drain', () => r()));

/** Resolves once everything written to `stream` has been handed to the kernel. */
async function writtenOut(stream: Writable): Promise<void> {
  for (;;) {
    // MQTT.js corks the stream for each packet and uncorks on the next tick.
    await new Promise((r) => setImmediate(r));
    if (stream.writableLength === 0 || stream.destroyed) return;
    if (stream.writableNeedDrain) await drained(stream);
  }
}

export const mosquittoTransport: Transport = {
  name: 'mosquitto',
  idle: 'event loop (epoll)',
  description: 'Mosquitto MQTT broker (QoS 0) with MQTT.js',
  async sender(ctx, topic) {
    const { connectAsync } = await import('mqtt');
    const client = await connectAsync(`mqtt://${ctx.endpoints.mosquitto}`, { reconnectPeriod: 0 });
    const t = `${topic}/${ctx.runId}`;
    const stream = client.stream as unknown as Writable;
    return {
      send(msg) {
        // QoS 0 publishes are written at once (MQTT.js corks them until the next tick); the
        // socket's own back-pressure paces the publisher, as for the socket transports.
        client.publish(t, Buffer.from(msg.buffer, msg.byteOffset, msg.length), { qos: 0 });
        if (stream.writableLength >= CHUNK || (!ctx.batching && stream.writableNeedDrain)) return drained(stream);
      },
      flush: () => writtenOut(stream),
      async close() {
        await writtenOut(stream);
        await client.endAsync();
      },
    };
  },
  async receiver(ctx, topic, onMessage) {
    const { connectAsync } = await import('mqtt');
    const client = await connectAsync(`mqtt://${ctx.endpoints.mosquitto}`, { reconnectPeriod: 0 });
    client.on('message', (_t, payload) => onMessage(payload, 0, payload.length));
    await client.subscribeAsync(`${topic}/${ctx.runId}`, { qos: 0 });
    return { close: () => client.endAsync() };
  },
};

export const natsTransport: Transport = {
  name: 'nats',
  idle: 'event loop (epoll)',
  description: 'NATS server with @nats-io/transport-node',
  async sender(ctx, topic) {
    const { connect } = await import('@nats-io/transport-node');
    // The client writes its buffer to the socket inline every pendingLimit bytes (32 KiB by
    // default): 64 KiB, as the socket transports.
    const nc = await connect({ servers: ctx.endpoints.nats, pendingLimit: CHUNK } as Parameters<typeof connect>[0]);
    const subject = `${topic}.${ctx.runId}`;
    const overhead = `PUB ${subject} 100000\r\n\r\n`.length;
    let bytes = 0;
    // A flush (PING, answered by PONG once the server has processed everything before it)
    // closes each window; the publisher waits for the previous window's only when two are out.
    let previous: { done: boolean; p: Promise<void> } | null = null;
    return {
      send(msg) {
        nc.publish(subject, msg);
        if (!ctx.batching) return;
        bytes += msg.length + overhead;
        if (bytes < WINDOW) return;
        bytes = 0;
        const older = previous;
        const window = { done: false, p: Promise.resolve() };
        window.p = nc.flush().then(() => {
          window.done = true;
        });
        // A failure surfaces where the window is awaited (or at the final flush), not unhandled.
        window.p.catch(() => {});
        previous = window;
        if (older && !older.done) return older.p;
      },
      async flush() {
        bytes = 0;
        previous = null;
        await nc.flush();
      },
      async close() {
        await nc.drain();
      },
    };
  },
  async receiver(ctx, topic, onMessage) {
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: ctx.endpoints.nats });
    nc.subscribe(`${topic}.${ctx.runId}`, { callback: (_e, m) => onMessage(m.data, 0, m.data.length) });
    await nc.flush();
    return { close: () => nc.drain() };
  },
};

export const redisTransport: Transport = {
  name: 'redis',
  idle: 'event loop (epoll)',
  description: 'Redis pub/sub with ioredis (pipelined publishes)',
  async sender(ctx, topic) {
    const { Redis } = await import('ioredis');
    const [host, port] = ctx.endpoints.redis!.split(':');
    const r = new Redis({ host, port: Number(port), lazyConnect: true });
    await r.connect();
    const chan = `${topic}:${ctx.runId}`;
    // *3\r\n$7\r\nPUBLISH\r\n$<n>\r\n<chan>\r\n$<n>\r\n<msg>\r\n, about.
    const overhead = 40 + chan.length;
    // Publishes go out in pipelines of about 64 KiB (one write each); the publisher waits for
    // the oldest replies when more than a window of bytes is unanswered.
    let pipe = r.pipeline();
    let queued = 0;
    let pipeBytes = 0;
    const inflight: { p: Promise<unknown>; bytes: number }[] = [];
    let inflightBytes = 0;
    const check = (results: [Error | null, unknown][] | null) => {
      for (const [err] of results ?? []) if (err) throw err;
    };
    const settle = async (limit: number) => {
      while (inflightBytes > limit) {
        const oldest = inflight.shift()!;
        inflightBytes -= oldest.bytes;
        await oldest.p;
      }
    };
    const exec = (): void | Promise<void> => {
      if (queued === 0) return;
      const p = pipe.exec().then(check);
      p.catch(() => {}); // awaited in settle(), which reports a failure
      inflight.push({ p, bytes: pipeBytes });
      inflightBytes += pipeBytes;
      pipe = r.pipeline();
      queued = 0;
      pipeBytes = 0;
      if (inflightBytes > WINDOW) return settle(WINDOW);
    };
    return {
      send(msg) {
        pipe.publish(chan, Buffer.from(msg.buffer, msg.byteOffset, msg.length));
        queued++;
        pipeBytes += msg.length + overhead;
        if (pipeBytes >= CHUNK || !ctx.batching) return exec();
      },
      async flush() {
        await exec();
        await settle(0);
      },
      async close() {
        await exec();
        await settle(0);
        r.disconnect();
      },
    };
  },
  async receiver(ctx, topic, onMessage) {
    const { Redis } = await import('ioredis');
    const [host, port] = ctx.endpoints.redis!.split(':');
    const r = new Redis({ host, port: Number(port) });
    r.on('messageBuffer', (_c: Buffer, m: Buffer) => onMessage(m, 0, m.length));
    await r.subscribe(`${topic}:${ctx.runId}`);
    return {
      async close() {
        r.disconnect();
      },
    };
  },
};

export const kafkaTransport: Transport = {
  name: 'kafka',
  idle: 'event loop (epoll)',
  description: 'Apache Kafka (KRaft, one broker) with kafkajs',
  async sender(ctx, topic) {
    const { Kafka, logLevel } = await import('kafkajs');
    const kafka = new Kafka({ brokers: [ctx.endpoints.kafka!], logLevel: logLevel.NOTHING, clientId: 'shimmy-bench' });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const t = `${topic}-${ctx.runId}`;
    // Produce requests of about BATCH bytes (well under the broker's message.max.bytes), at
    // most IN_FLIGHT of them unanswered: a window of 2 MiB, as the other brokers'. kafkajs
    // encodes record by record, and a request of many small records costs more per record
    // (512 KiB of 16-byte records a request ran at a quarter of the rate of 2,000 a request),
    // so a request also closes at MAX_RECORDS.
    const BATCH = 512 * 1024;
    const MAX_RECORDS = 2000;
    const IN_FLIGHT = 4;
    const RECORD_OVERHEAD = 20;
    let batch: { value: Buffer }[] = [];
    let batchBytes = 0;
    // Responses on one connection come back in order: the oldest request is the one to wait for.
    const inflight: Promise<unknown>[] = [];
    const produce = (): Promise<unknown> => {
      const messages = batch;
      batch = [];
      batchBytes = 0;
      const p = producer.send({ topic: t, acks: 1, messages });
      p.catch(() => {}); // awaited in order, which reports a failure
      return p;
    };
    const s: Sender = {
      send(msg) {
        batch.push({ value: Buffer.from(msg) });
        // A latency sender produces each message and waits for its acknowledgement.
        if (!ctx.batching) return produce().then(() => {});
        batchBytes += msg.length + RECORD_OVERHEAD;
        if (batchBytes < BATCH && batch.length < MAX_RECORDS) return;
        inflight.push(produce());
        if (inflight.length >= IN_FLIGHT) return inflight.shift()!.then(() => {});
      },
      async flush() {
        if (batch.length) inflight.push(produce());
        while (inflight.length) await inflight.shift();
      },
      async close() {
        await s.flush();
        await producer.disconnect();
      },
    };
    return s;
  },
  async receiver(ctx, topic, onMessage) {
    const { Kafka, logLevel } = await import('kafkajs');
    const kafka = new Kafka({ brokers: [ctx.endpoints.kafka!], logLevel: logLevel.NOTHING, clientId: 'shimmy-bench' });
    const t = `${topic}-${ctx.runId}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: `g-${t}`, maxWaitTimeInMs: 10, minBytes: 1 });
    await consumer.connect();
    await consumer.subscribe({ topic: t, fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) if (m.value) onMessage(m.value, 0, m.value.length);
      },
    });
    await waitFor(() => joined, 30_000);
    return { close: () => consumer.disconnect() };
  },
};
