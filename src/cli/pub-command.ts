import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { Channel } from '../channel/channel.js';
import type { Publisher } from '../channel/endpoints.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { NAMESPACE_HELP, describeRef, openCliChannel, resolveCliChannel } from './channel-ref.js';
import { durationFlag, durationOption, intOption, sizeOption } from '../terminal/options.js';
import { EventLoopTurns } from './signals.js';
import { unlessAborted } from '../channel/idle.js';
import { SEQ_HEADER, fillSeqMessage, newPublisherId, seqFrame } from './seq-message.js';

interface PubFlags {
  namespace?: string;
  segmentWait: number;
  count?: number;
  size: number;
  rate?: number;
  seq?: boolean;
  waitSubscribers?: number;
  timeout?: number;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;
const WAIT_POLL_MS = 25;

const encoder = new TextEncoder();

/** Paces publishing at `rate` messages per second (no pacing when undefined). */
class Pacer {
  private readonly start = performance.now();
  constructor(private readonly rate?: number) {}
  async before(i: number): Promise<void> {
    if (!this.rate) return;
    const ahead = this.start + (i * 1000) / this.rate - performance.now();
    if (ahead > 1) await sleep(ahead);
  }
}

async function send(pub: Publisher, msg: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!pub.tryPublish(msg)) await pub.publish(msg, { signal });
}

/**
 * Messages per batch: up to 256 KiB or 1024 messages, and at a --rate no more than 10 ms
 * worth, so pacing stays smooth.
 */
export function batchSize(size: number, rate?: number): number {
  const bySize = Math.max(1, Math.min(1024, Math.floor(262144 / Math.max(1, size))));
  return rate === undefined ? bySize : Math.max(1, Math.min(bySize, Math.floor(rate / 100)));
}

function frame(publisher: number, seq: number | null, payload: Uint8Array): Uint8Array {
  return seq === null ? payload : seqFrame(publisher, seq, payload);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function subscribers(n: number): string {
  return `${n} subscriber${n === 1 ? '' : 's'}`;
}

export interface WaitForSubscribersOptions {
  /** Called once, with the number attached, when the wait begins (not when already satisfied). */
  onWait?: (attached: number) => void;
  /** Polled between checks: true ends the wait early (Ctrl-C). */
  stopped?: () => boolean;
  pollMs?: number;
}

/**
 * Resolves once at least `want` live subscribers are attached to `channel` (true), or when
 * `stopped()` turns true (false); polls stats() every `pollMs` ms, asleep in between. Throws
 * TIMEOUT after `timeoutMs`.
 */
export async function waitForSubscribers(channel: Channel, want: number, timeoutMs: number, options: WaitForSubscribersOptions = {}): Promise<boolean> {
  const pollMs = options.pollMs ?? WAIT_POLL_MS;
  const deadline = performance.now() + timeoutMs;
  let attached = channel.stats().subscribers;
  if (attached >= want) return true;
  options.onWait?.(attached);
  for (;;) {
    if (options.stopped?.()) return false;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new ShimmyError(
        ErrorCode.TIMEOUT,
        `Timed out after ${formatMs(timeoutMs)} waiting for ${subscribers(want)} on channel ${describeRef(channel.ref)}: ${attached} attached`,
        `Start the subscribers (\`shimmy sub ${channel.ref.name}\`, same namespace) before or alongside pub, lower --wait-subscribers, or raise --timeout`,
      );
    }
    await sleep(Math.min(pollMs, left));
    attached = channel.stats().subscribers;
    if (attached >= want) return true;
  }
}

export function registerPubCommand(program: Command): void {
  program
    .command('pub')
    .description('publish messages: the MESSAGE arguments, --count generated messages, or stdin lines')
    .argument('<name>', 'channel name')
    .argument('[message...]', 'messages to publish (each one message)')
    .option('-n, --namespace <ns>', NAMESPACE_HELP)
    .addOption(durationFlag('--segment-wait', "in a pod: how long to wait for the node agent to make the channel's segment", '60s'))
    .option('-c, --count <n>', 'number of messages (generated ones of --size when no MESSAGE is given)', intOption('--count', 0))
    .option('-s, --size <size>', 'size of generated messages: bytes or a quantity (1Ki = 1024, 1k = 1000)', sizeOption('--size'), 16)
    .option('-r, --rate <n>', 'messages per second (default: as fast as the channel takes them)', intOption('--rate', 1))
    .option('--seq', "prefix each message with this publisher's id, a sequence number and a checksum (checked by `sub --verify`)")
    .option(
      '--wait-subscribers <n>',
      'before sending anything, wait until at least n subscribers are attached (subscribers see only messages published after they attach)',
      intOption('--wait-subscribers', 1),
    )
    .option(
      '--timeout <duration>',
      `with --wait-subscribers: give up (exit 1, ${ErrorCode.TIMEOUT}) after this long, e.g. 500ms, 30s, 2m (default: ${formatMs(DEFAULT_WAIT_TIMEOUT_MS)})`,
      durationOption('--timeout'),
    )
    .action(async (name: string, messages: string[], flags: PubFlags) => {
      if (flags.timeout !== undefined && flags.waitSubscribers === undefined) {
        throw new ShimmyError(
          ErrorCode.INVALID_ARGUMENT,
          '--timeout only limits --wait-subscribers, which was not given',
          'Add --wait-subscribers N, or drop --timeout',
        );
      }
      if (messages.length === 0 && flags.count !== undefined && flags.seq && flags.size < SEQ_HEADER) {
        throw new ShimmyError(
          ErrorCode.INVALID_ARGUMENT,
          `--seq messages need at least ${SEQ_HEADER} bytes, --size is ${flags.size}`,
          `Use --size ${SEQ_HEADER} or more`,
        );
      }
      const resolved = resolveCliChannel(name, flags.namespace);
      const where = describeRef(resolved.ref);
      const channel = await openCliChannel(resolved, flags.segmentWait);
      let pub: Publisher;
      try {
        pub = channel.publisher();
      } catch (err) {
        channel.close();
        throw err;
      }
      let sent = 0;
      let bytes = 0;
      let stop = false;
      // Ends a wait for ring space too: a subscriber that never reads must not hold Ctrl-C off.
      const abort = new AbortController();
      const onSignal = () => {
        stop = true;
        abort.abort();
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      const turns = new EventLoopTurns();
      let started = performance.now();
      try {
        if (flags.waitSubscribers !== undefined) {
          const want = flags.waitSubscribers;
          const timeoutMs = flags.timeout ?? DEFAULT_WAIT_TIMEOUT_MS;
          await waitForSubscribers(channel, want, timeoutMs, {
            stopped: () => stop,
            onWait: (attached) =>
              console.error(`shimmy: waiting for ${subscribers(want)} on ${where} (${attached} attached, --timeout ${formatMs(timeoutMs)})`),
          });
          started = performance.now();
        }
        const pacer = new Pacer(flags.rate);
        // This process's id in --seq frames: `sub --verify` checks each publisher's sequence.
        const publisherId = newPublisherId();
        if (stop) {
          // Ctrl-C while waiting for subscribers: nothing sent.
        } else if (messages.length > 0 || flags.count !== undefined) {
          const count = flags.count ?? messages.length;
          const payloads = messages.map((m) => encoder.encode(m));
          const batch = batchSize(flags.size, flags.rate);
          // Generated messages are written in place into a pool of buffers, one per batch slot.
          const pool = payloads.length > 0 ? [] : Array.from({ length: Math.min(batch, count) }, () => new Uint8Array(flags.size).fill(0x61));
          const out: Uint8Array[] = [];
          for (let i = 0; i < count && !stop;) {
            await pacer.before(i);
            const n = Math.min(batch, count - i);
            let batchBytes = 0;
            for (let k = 0; k < n; k++) {
              const seq = i + k;
              let msg: Uint8Array;
              if (payloads.length > 0) msg = frame(publisherId, flags.seq ? seq : null, payloads[seq % payloads.length]!);
              else {
                msg = pool[k]!;
                if (flags.seq) fillSeqMessage(msg, publisherId, seq);
              }
              out[k] = msg;
              batchBytes += msg.length;
            }
            // One release store per batch; waits off the event loop while the ring is full.
            if (!(await unlessAborted(pub.publishBatch(out, n, { signal: abort.signal })))) break;
            if (turns.due()) await turns.turn();
            sent += n;
            bytes += batchBytes;
            i += n;
          }
        } else {
          const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
          for await (const line of lines) {
            if (stop) break;
            await pacer.before(sent);
            const msg = frame(publisherId, flags.seq ? sent : null, encoder.encode(line));
            if (!(await unlessAborted(send(pub, msg, abort.signal)))) break;
            if (turns.due()) await turns.turn();
            sent++;
            bytes += msg.length;
          }
        }
      } finally {
        pub.close();
        channel.close();
      }
      const seconds = (performance.now() - started) / 1000;
      console.error(`published ${sent} messages (${bytes} bytes) to ${where} in ${seconds.toFixed(3)} s (${Math.round(sent / Math.max(seconds, 1e-9))} msg/s)`);
    });
}
