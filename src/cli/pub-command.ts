import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { Channel } from '../channel/channel.js';
import type { Publisher } from '../channel/endpoints.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { intOption, sizeOption } from './options.js';
import { SEQ_HEADER, fillSeqMessage, seqFrame } from './seq-message.js';

interface PubFlags {
  namespace: string;
  count?: number;
  size: number;
  rate?: number;
  seq?: boolean;
}

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

async function send(pub: Publisher, msg: Uint8Array): Promise<void> {
  if (!pub.tryPublish(msg)) await pub.publish(msg);
}

function frame(seq: number | null, payload: Uint8Array): Uint8Array {
  return seq === null ? payload : seqFrame(seq, payload);
}

export function registerPubCommand(program: Command): void {
  program
    .command('pub')
    .description('publish messages: the MESSAGE arguments, --count generated messages, or stdin lines')
    .argument('<name>', 'channel name')
    .argument('[message...]', 'messages to publish (each one message)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-c, --count <n>', 'number of messages (generated ones of --size when no MESSAGE is given)', intOption('--count', 0))
    .option('-s, --size <size>', 'size of generated messages', sizeOption('--size'), 16)
    .option('-r, --rate <n>', 'messages per second (default: as fast as the channel takes them)', intOption('--rate', 1))
    .option('--seq', 'prefix each message with a sequence number and checksum (checked by `sub --verify`)')
    .action(async (name: string, messages: string[], flags: PubFlags) => {
      const channel = Channel.open({ namespace: flags.namespace, name });
      const pub = channel.publisher();
      const pacer = new Pacer(flags.rate);
      const started = performance.now();
      let sent = 0;
      let bytes = 0;
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        if (messages.length > 0 || flags.count !== undefined) {
          const count = flags.count ?? messages.length;
          const payloads = messages.map((m) => encoder.encode(m));
          if (payloads.length === 0 && flags.seq && flags.size < SEQ_HEADER) {
            throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `--seq messages need at least ${SEQ_HEADER} bytes, --size is ${flags.size}`, `Use --size ${SEQ_HEADER} or more`);
          }
          const generated = new Uint8Array(flags.size).fill(0x61);
          for (let i = 0; i < count && !stop; i++) {
            await pacer.before(i);
            let msg: Uint8Array;
            if (payloads.length > 0) msg = frame(flags.seq ? i : null, payloads[i % payloads.length]!);
            else {
              if (flags.seq) fillSeqMessage(generated, i);
              msg = generated;
            }
            await send(pub, msg);
            sent++;
            bytes += msg.length;
          }
        } else {
          const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
          for await (const line of lines) {
            if (stop) break;
            await pacer.before(sent);
            const msg = frame(flags.seq ? sent : null, encoder.encode(line));
            await send(pub, msg);
            sent++;
            bytes += msg.length;
          }
        }
      } finally {
        pub.close();
        channel.close();
      }
      const seconds = (performance.now() - started) / 1000;
      console.error(`published ${sent} messages (${bytes} bytes) to ${flags.namespace}/${name} in ${seconds.toFixed(3)} s (${Math.round(sent / Math.max(seconds, 1e-9))} msg/s)`);
    });
}
