/**
 * `shimmy request` and `shimmy reply`: the two sides of a stream channel from the shell. A
 * replier (side b) answers each request it takes with the request and its own name; a
 * requester (side a) sends numbered requests and checks that each is answered exactly once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { Channel } from '../channel/channel.js';
import type { StreamEnd } from '../channel/endpoints.js';
import { unlessAborted } from '../channel/idle.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { durationFlag, durationOption, intOption } from '../terminal/options.js';
import { NAMESPACE_HELP, describeRef, openCliChannel, resolveCliChannel } from './channel-ref.js';
import { EventLoopTurns } from './signals.js';

interface CommonFlags {
  namespace?: string;
  segmentWait: number;
  json?: boolean;
}

export interface RequestSummary {
  requests: number;
  /** Requests answered (the first answer to each). */
  answers: number;
  /** Answers to a request already answered. */
  twice: number;
  /** Answers that name no request of this requester: another requester's, or malformed. */
  unknown: number;
  /** Answers by the replier that gave them. */
  byReplier: Record<string, number>;
  seconds: number;
}

const TAKE = 256;
/** How long a requester that can neither send nor take waits for an answer before trying to send again. */
const RETRY_MS = 10;

async function openEnd(name: string, flags: CommonFlags, side: 'a' | 'b', abort: AbortController): Promise<{ channel: Channel; end: StreamEnd; id: string }> {
  const resolved = resolveCliChannel(name, flags.namespace);
  const channel = await openCliChannel(resolved, flags.segmentWait, abort.signal);
  try {
    return { channel, end: channel.streamEnd(side), id: describeRef(resolved.ref) };
  } catch (err) {
    channel.close();
    throw err;
  }
}

function onSignals(abort: AbortController): void {
  const stop = () => abort.abort();
  process.once('SIGINT', stop).once('SIGTERM', stop);
}

export function registerStreamCommands(program: Command): void {
  program
    .command('reply')
    .description("answer the requests of a stream channel (its side b): each with the request, a space and this replier's name, until --count or Ctrl-C")
    .argument('<name>', 'channel name')
    .option('-n, --namespace <ns>', NAMESPACE_HELP)
    .addOption(durationFlag('--segment-wait', "in a pod: how long to wait for the node agent to make the channel's segment", '60s'))
    .option('--as <replier>', "this replier's name in its answers (default: the host name)")
    .option('-c, --count <n>', 'exit after answering this many requests', intOption('--count', 1))
    .option('--json', 'end with a JSON summary {answered, seconds}')
    .action(async (name: string, flags: CommonFlags & { as?: string; count?: number }) => {
      const abort = new AbortController();
      onSignals(abort);
      const { channel, end, id } = await openEnd(name, flags, 'b', abort);
      const suffix = Buffer.from(` ${flags.as ?? hostname()}`);
      const limit = flags.count ?? Infinity;
      const turns = new EventLoopTurns();
      const taken: Buffer[] = [];
      let answered = 0;
      let first = 0;
      console.error(`shimmy: answering requests on ${id}`);
      try {
        while (answered < limit && !abort.signal.aborted) {
          end.take(Math.min(TAKE, limit - answered), (m) => taken.push(m));
          if (taken.length === 0) {
            if (!(await unlessAborted(end.waitForMessages({ signal: abort.signal })))) break;
            continue;
          }
          if (answered === 0) first = performance.now();
          for (const request of taken) {
            const answer = Buffer.concat([request, suffix]);
            if (!end.tryPublish(answer)) await end.publish(answer, { signal: abort.signal });
            answered++;
          }
          taken.length = 0;
          if (turns.due()) await turns.turn();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      } finally {
        end.close();
        channel.close();
      }
      if (flags.json) console.log(JSON.stringify({ answered, seconds: answered ? Number(((performance.now() - first) / 1000).toFixed(6)) : 0 }));
    });

  program
    .command('request')
    .description(
      'send --count numbered requests on a stream channel (its side a) and check that each is answered exactly once (`shimmy reply` answers them); exit 3 when one is answered twice or an answer is unknown',
    )
    .argument('<name>', 'channel name')
    .option('-n, --namespace <ns>', NAMESPACE_HELP)
    .addOption(durationFlag('--segment-wait', "in a pod: how long to wait for the node agent to make the channel's segment", '60s'))
    .option('-c, --count <n>', 'how many requests', intOption('--count', 1), 1)
    .option(
      '--timeout <duration>',
      'give up (SHIMMY_ERR_TIMEOUT) when not every request is answered this long after the channel opened',
      durationOption('--timeout'),
    )
    .option('--json', 'end with a JSON summary {requests, answers, twice, unknown, byReplier, seconds}')
    .action(async (name: string, flags: CommonFlags & { count: number; timeout?: number }) => {
      const abort = new AbortController();
      onSignals(abort);
      const { channel, end, id } = await openEnd(name, flags, 'a', abort);
      // From here: --segment-wait bounds the wait for the segment before it.
      const timer = flags.timeout === undefined ? undefined : setTimeout(() => abort.abort(new ShimmyError(ErrorCode.TIMEOUT, 'timed out', '')), flags.timeout);
      // Answers to another requester on the same channel are told apart by this prefix.
      const prefix = `req-${randomBytes(4).toString('hex')}-`;
      const n = flags.count;
      const answered = new Uint8Array(n);
      const s: RequestSummary = { requests: n, answers: 0, twice: 0, unknown: 0, byReplier: {}, seconds: 0 };
      const take = (m: Buffer) => {
        const text = m.toString();
        const space = text.indexOf(' ');
        const i = text.startsWith(prefix) && space > 0 ? Number(text.slice(prefix.length, space)) : NaN;
        if (!Number.isInteger(i) || i < 0 || i >= n) s.unknown++;
        else if (answered[i]!++ !== 0) s.twice++;
        else {
          s.answers++;
          const replier = text.slice(space + 1);
          s.byReplier[replier] = (s.byReplier[replier] ?? 0) + 1;
        }
      };
      const turns = new EventLoopTurns();
      const started = performance.now();
      let sent = 0;
      console.error(`shimmy: sending ${n} requests on ${id}`);
      try {
        // Sending and taking in turn: waiting to send while answers fill the other ring would wait forever.
        while (s.answers < n && !abort.signal.aborted) {
          let moved = 0;
          while (sent < n && end.tryPublish(Buffer.from(`${prefix}${sent}`))) {
            sent++;
            if (++moved === TAKE) break;
          }
          moved += end.take(TAKE, take);
          if (moved > 0) {
            if (turns.due()) await turns.turn();
            continue;
          }
          await unlessAborted(
            end.waitForMessages({ signal: abort.signal, ...(sent < n ? { timeoutMs: RETRY_MS } : {}) }).catch((err: unknown) => {
              if (!(err instanceof ShimmyError && err.code === ErrorCode.TIMEOUT)) throw err;
            }),
          );
        }
      } finally {
        clearTimeout(timer);
        end.close();
        channel.close();
      }
      s.seconds = Number(((performance.now() - started) / 1000).toFixed(6));
      if (flags.json) console.log(JSON.stringify(s));
      if (s.answers < n) {
        if (abort.signal.reason instanceof ShimmyError)
          throw new ShimmyError(
            ErrorCode.TIMEOUT,
            `Timed out with ${s.answers} of ${n} requests answered (${sent} sent)`,
            'Start a replier (`shimmy reply`) on the channel, or raise --timeout',
          );
        return;
      }
      if (s.twice > 0 || s.unknown > 0) process.exitCode = 3;
    });
}
