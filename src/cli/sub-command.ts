import type { Command } from 'commander';
import type { MessageHandler } from '../channel/subscriber-reader.js';
import { RecordBatch } from '../channel/record-batch.js';
import { NAMESPACE_HELP, describeRef, openCliChannel, resolveCliChannel } from './channel-ref.js';
import { durationFlag, intOption } from '../terminal/options.js';
import { SeqVerifier } from './seq-message.js';
import { EventLoopTurns } from './signals.js';
import { unlessAborted } from '../channel/idle.js';

interface SubFlags {
  namespace?: string;
  segmentWait: number;
  count?: number;
  verify?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface SubSummary {
  received: number;
  bytes: number;
  gaps: number;
  outOfOrder: number;
  lost: number;
  corrupt: number;
  seconds: number;
  /** With --verify: how many publishers' sequences were checked. */
  publishers?: number;
}

export function registerSubCommand(program: Command): void {
  program
    .command('sub')
    .description('subscribe and print messages (one per line) until --count or Ctrl-C')
    .argument('<name>', 'channel name')
    .option('-n, --namespace <ns>', NAMESPACE_HELP)
    .addOption(durationFlag('--segment-wait', "in a pod: how long to wait for the node agent to make the channel's segment", '60s'))
    .option('-c, --count <n>', 'exit after this many messages', intOption('--count', 1))
    .option('--verify', 'check the checksums of `pub --seq` messages, and their sequence numbers per publisher (exit 3 when corrupt or out of order)')
    .option('--json', 'end with a JSON summary {received, bytes, gaps, outOfOrder, lost, corrupt, seconds}, with --verify also publishers')
    .option('-q, --quiet', 'do not print the messages')
    .action(async (name: string, flags: SubFlags) => {
      const resolved = resolveCliChannel(name, flags.namespace);
      const channel = await openCliChannel(resolved, flags.segmentWait);
      let sub;
      try {
        sub = channel.subscriber();
      } catch (err) {
        channel.close();
        throw err;
      }
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop).once('SIGTERM', stop);
      const turns = new EventLoopTurns();
      const s: SubSummary = { received: 0, bytes: 0, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0, seconds: 0 };
      const decoder = new TextDecoder();
      let first = 0;
      let last = 0;
      const verifier = new SeqVerifier();
      const out: string[] = [];
      const limit = flags.count ?? Infinity;
      const batch = new RecordBatch(4096);
      const handle: MessageHandler = (bytes, offset, length) => {
        if (s.received === 0) first = performance.now();
        s.received++;
        s.bytes += length;
        if (flags.verify) {
          const corrupt = verifier.check(bytes, offset, length);
          if (corrupt !== null && !flags.quiet) console.error(`shimmy: message ${s.received}: ${corrupt}`);
        }
        if (!flags.quiet) out.push(decoder.decode(bytes.subarray(offset, offset + length)));
      };
      console.error(`shimmy: subscribed to ${describeRef(resolved.ref)}`);
      try {
        while (s.received < limit && !abort.signal.aborted) {
          const n = sub.pollBatch(batch, Math.min(batch.capacity, limit - s.received));
          const { bytes, offsets, lengths } = batch;
          for (let k = 0; k < n; k++) handle(bytes, offsets[k]!, lengths[k]!, batch.seqs[k]!);
          if (out.length) {
            process.stdout.write(out.join('\n') + '\n');
            out.length = 0;
          }
          if (n !== 0) {
            last = performance.now();
            // A flood never leaves the loop to wait: give signals a turn now and then.
            if (turns.due()) await turns.turn();
            continue;
          }
          if (!(await unlessAborted(sub.wait({ signal: abort.signal })))) break;
        }
      } finally {
        s.lost = sub.lost;
        sub.close();
        channel.close();
      }
      s.seconds = s.received ? Number(((last - first) / 1000).toFixed(6)) : 0;
      if (flags.verify) {
        s.gaps = verifier.gaps;
        s.outOfOrder = verifier.outOfOrder;
        s.corrupt = verifier.corrupt;
        s.publishers = verifier.publishers;
      }
      if (flags.json) console.log(JSON.stringify(s));
      if (flags.verify && (s.corrupt > 0 || s.outOfOrder > 0)) process.exitCode = 3;
    });
}
