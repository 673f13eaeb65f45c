/**
 * Broker peers, each with its most-used maintained Node client: MQTT.js against Mosquitto
 * (QoS 0), @nats-io/transport-node against nats-server, ioredis pub/sub against Redis,
 * kafkajs against a KRaft Kafka broker (acks=1, no linger).
 */
import type { Sender, Transport } from './transport.js';

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const mosquittoTransport: Transport = {
  name: 'mosquitto',
  description: 'Mosquitto MQTT broker (QoS 0) with MQTT.js',
  async sender(ctx, topic) {
    const { connectAsync } = await import('mqtt');
    const client = await connectAsync(`mqtt://${ctx.endpoints.mosquitto}`, { reconnectPeriod: 0 });
    const t = `${topic}/${ctx.runId}`;
    let inflight = 0;
    return {
      send(msg) {
        inflight++;
        client.publish(t, Buffer.from(msg.buffer, msg.byteOffset, msg.length), { qos: 0 }, () => {
          inflight--;
        });
        if (inflight > 1000) return waitFor(() => inflight < 100, 60_000);
      },
      async flush() {
        await waitFor(() => inflight === 0, 60_000);
      },
      async close() {
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
  description: 'NATS server with @nats-io/transport-node',
  async sender(ctx, topic) {
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: ctx.endpoints.nats });
    const subject = `${topic}.${ctx.runId}`;
    let n = 0;
    return {
      send(msg) {
        nc.publish(subject, msg);
        // Let the client drain its outbound buffer now and then.
        if (++n % 5000 === 0) return nc.flush();
      },
      flush: () => nc.flush(),
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
  description: 'Redis pub/sub with ioredis (pipelined publishes)',
  async sender(ctx, topic) {
    const { Redis } = await import('ioredis');
    const [host, port] = ctx.endpoints.redis!.split(':');
    const r = new Redis({ host, port: Number(port), lazyConnect: true, enableAutoPipelining: true });
    await r.connect();
    const chan = `${topic}:${ctx.runId}`;
    let pending: Promise<unknown>[] = [];
    return {
      send(msg) {
        pending.push(r.publish(chan, Buffer.from(msg.buffer, msg.byteOffset, msg.length)));
        if (pending.length >= 1000) {
          const p = Promise.all(pending);
          pending = [];
          return p.then(() => {});
        }
      },
      async flush() {
        await Promise.all(pending);
        pending = [];
      },
      async close() {
        await Promise.all(pending);
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
  description: 'Apache Kafka (KRaft, one broker) with kafkajs',
  async sender(ctx, topic) {
    const { Kafka, logLevel } = await import('kafkajs');
    const kafka = new Kafka({ brokers: [ctx.endpoints.kafka!], logLevel: logLevel.NOTHING, clientId: 'shimmy-bench' });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const t = `${topic}-${ctx.runId}`;
    let batch: { value: Buffer }[] = [];
    const batchSize = ctx.size >= 4096 ? 16 : 2000;
    const sendBatch = async () => {
      if (!batch.length) return;
      const messages = batch;
      batch = [];
      await producer.send({ topic: t, acks: 1, messages });
    };
    const s: Sender = {
      send(msg) {
        batch.push({ value: Buffer.from(msg) });
        if (batch.length >= batchSize || !ctx.batching) return sendBatch();
      },
      flush: sendBatch,
      async close() {
        await sendBatch();
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
