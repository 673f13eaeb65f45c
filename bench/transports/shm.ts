import { Channel } from '../../src/channel/channel.js';
import type { Subscriber } from '../../src/channel/endpoints.js';
import { RecordBatch } from '../../src/channel/record-batch.js';
import type { IdleStrategy } from '../../src/channel/idle.js';
import type { OnMessage, Transport, WorkerContext } from './transport.js';

function channelFor(ctx: WorkerContext, topic: string): Channel {
  // The benchmark's parent created the channel; 8 MiB ring, messages up to 128 KiB.
  return Channel.open({ namespace: 'shimmy-bench', name: `${topic}-${ctx.runId}` });
}

export function shmTransport(name: string, idle: IdleStrategy): Transport {
  let subscriber: Subscriber | null = null;
  let handler: OnMessage = () => {};
  // One for the process: pump() runs once per message in ping-pong, and 48 KiB of typed
  // arrays allocated per call cost 3 us of latency (measured).
  const batch = new RecordBatch(4096);
  return {
    name,
    description: `Shimmy shared memory (idle strategy ${idle})`,
    async sender(ctx, topic) {
      const ch = channelFor(ctx, topic);
      // One publisher per channel in every scenario: the exclusive publisher fits.
      const pub = ch.publisher({ exclusive: true });
      return {
        // Throughput runs: every record its own message, a batch visible with one store.
        sendBatch(msgs, count) {
          pub.publishBatchSync(msgs, count, { idle });
        },
        // Latency runs: each message now.
        send(msg) {
          if (!pub.tryPublish(msg)) pub.publishSync(msg, { idle });
        },
        async flush() {},
        async close() {
          pub.close();
          ch.close();
        },
      };
    },
    async receiver(ctx, topic, onMessage) {
      const ch = channelFor(ctx, topic);
      subscriber = ch.subscriber({ idle });
      handler = onMessage;
      return {
        async close() {
          subscriber?.close();
          ch.close();
        },
      };
    },
    async pump(until) {
      const sub = subscriber!;
      const h = handler;
      while (!until()) {
        const n = sub.pollBatch(batch);
        if (n !== 0) {
          const { bytes, offsets, lengths } = batch;
          for (let i = 0; i < n; i++) h(bytes, offsets[i]!, lengths[i]!);
          continue;
        }
        if (idle === 'busy-spin') {
          // Stay on the CPU (the library's paced spin); give the event loop (IPC) a turn now and then.
          try {
            sub.waitSync({ timeoutMs: 1 });
          } catch {
            await new Promise<void>((r) => setImmediate(r));
          }
        } else {
          await sub.wait({ timeoutMs: 50 }).catch(() => {});
        }
      }
    },
  };
}

export function createBenchChannels(runId: string, topics: string[], maxMessage: number): () => void {
  const refs = topics.map((t) => ({ namespace: 'shimmy-bench', name: `${t}-${runId}` }));
  for (const ref of refs) {
    Channel.remove(ref);
    Channel.create(ref, { capacity: 8 * 1024 * 1024, maxMessage: Math.max(1024, maxMessage), slowConsumer: 'block' }).close();
  }
  return () => refs.forEach((r) => Channel.remove(r));
}
