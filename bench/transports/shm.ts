import { Channel } from '../../src/channel/channel.js';
import type { Subscriber } from '../../src/channel/endpoints.js';
import type { IdleStrategy } from '../../src/channel/idle.js';
import type { OnMessage, Transport, WorkerContext } from './transport.js';

/** Across two hosts (`shimmy bench --remote`), a topic's channel is a memory file of its host: this endpoint names it. */
export const shmFileEndpoint = (topic: string) => `shm-file-${topic}`;
/** Set across two hosts: the replicator publishes into the channel too, so the publisher is a shared one. */
export const SHM_SHARED_ENDPOINT = 'shm-shared';

function channelFor(ctx: WorkerContext, topic: string): Channel {
  // The benchmark's parent created the channel; 8 MiB ring, messages up to 128 KiB.
  const ref = { namespace: 'shimmy-bench', name: `${topic}-${ctx.runId}` };
  const file = ctx.endpoints[shmFileEndpoint(topic)];
  return file ? Channel.openFile(ref, file) : Channel.open(ref);
}

/**
 * `single`: the publisher's per-message API (tryPublish, each message visible at once) for
 * the single-message row of the benchmark; otherwise it publishes whole batches. The
 * subscriber always takes every available message per poll(handler) call: that measured
 * faster than pollBatch() plus a loop over the RecordBatch (16 B: 23.0 M against 19.8 M
 * msg/s; 1 KiB: 4.5 M against 2.7 M, median of three in one run).
 */
export function shmTransport(name: string, idle: IdleStrategy, { single = false } = {}): Transport {
  let subscriber: Subscriber | null = null;
  let handler: OnMessage = () => {};
  return {
    name,
    description: `Shimmy shared memory (idle strategy ${idle}${single ? ', one message per publish call' : ''})`,
    async sender(ctx, topic) {
      const ch = channelFor(ctx, topic);
      // One publisher per channel in every scenario: the exclusive publisher fits.
      const pub = ch.publisher({ exclusive: !ctx.endpoints[SHM_SHARED_ENDPOINT] });
      // Latency runs, and every message of the single-message row: each message now.
      const send = (msg: Uint8Array): void => {
        if (!pub.tryPublish(msg)) pub.publishSync(msg, { idle });
      };
      const close = async (): Promise<void> => {
        pub.close();
        ch.close();
      };
      if (single) return { send, async flush() {}, close };
      return {
        // Throughput runs: every record its own message, a batch visible with one store.
        sendBatch(msgs, count) {
          pub.publishBatchSync(msgs, count, { idle });
        },
        send,
        async flush() {},
        close,
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
        if (sub.poll(h) !== 0) continue;
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
