/**
 * The application-facing entry point:
 *   const ch = openChannel('frames');                      // from the injected SHIMMY_* env
 *   const ch = openChannel({ namespace: 'demo', name: 'frames', create: { mode: 'pubsub' } });
 * then ch.publisher(), ch.subscriber() (async-iterable), or ch.stream('a') (a Duplex).
 * close(), or aborting `signal`, releases every slot and detaches the segment.
 */
import { Channel, type CreateOptions } from '../channel/channel.js';
import type { IdleOptions } from '../channel/idle.js';
import type { ChannelRef } from '../channel/names.js';
import type { SegmentOwner } from '../shm/segment.js';
import type { Publisher, PublisherOptions, StreamSide, Subscriber } from '../channel/endpoints.js';
import { ErrorCode, ShimmyError } from '../errors.js';
import { ChannelDuplex } from './duplex.js';
import { readInjectedChannel } from './env.js';

export interface OpenOptions extends ChannelRef {
  /** Create the segment when absent (standalone mode). In Kubernetes the node agent creates it: use openChannelWhenReady. */
  create?: CreateOptions | boolean;
  /** Map this memory file (the mode without hostIPC) instead of the System V segment; not with `create`. */
  file?: string;
  /** The uid and gid the System V segment must belong to (a hardened channel); open refuses any other. */
  owner?: SegmentOwner;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export class ShimmyChannel {
  private readonly closers = new Set<{ close(): void }>();

  constructor(
    readonly channel: Channel,
    signal?: AbortSignal,
  ) {
    if (signal) {
      if (signal.aborted) this.close();
      else signal.addEventListener('abort', () => this.close(), { once: true });
    }
  }

  get name(): string {
    return this.channel.ref.name;
  }

  get mode(): 'pubsub' | 'stream' {
    return this.channel.header.mode;
  }

  private track<T extends { close(): void }>(endpoint: T): T {
    this.closers.add(endpoint);
    return endpoint;
  }

  publisher(options: PublisherOptions = {}): Publisher {
    return this.track(this.channel.publisher(options));
  }

  subscriber(options: IdleOptions = {}): Subscriber {
    return this.track(this.channel.subscriber(options));
  }

  /** One end of a stream channel as a Duplex; consumers of the same side share the work. */
  stream(side: StreamSide, options: IdleOptions = {}): ChannelDuplex {
    if (side !== 'a' && side !== 'b') throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `Unknown stream side ${JSON.stringify(side)}`, "Use 'a' or 'b'");
    const end = this.track(this.channel.streamEnd(side, options));
    return new ChannelDuplex(end, () => this.closers.delete(end));
  }

  stats() {
    return this.channel.stats();
  }

  close(): void {
    for (const c of this.closers) c.close();
    this.closers.clear();
    this.channel.close();
  }
}

/**
 * In a pod: waits (up to `timeoutMs`, default 60 s) for the node agent to make the injected
 * channel's segment, then attaches, as openChannel(name) does once it exists.
 */
export async function openChannelWhenReady(
  name: string,
  options: { timeoutMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<ShimmyChannel> {
  const injected = readInjectedChannel(name, options.env ?? process.env);
  const ref: ChannelRef = { namespace: injected.namespace, name: injected.name, ...(injected.uid ? { uid: injected.uid } : {}) };
  const channel = await Channel.openWhenPresent(ref, {
    ...(injected.file ? { file: injected.file } : {}),
    ...(injected.owner ? { owner: injected.owner } : {}),
    timeoutMs: options.timeoutMs ?? 60_000,
    hint: "The Shimmy node agent makes it once the pod is on a node: check that node's agent pod and the channel's ChannelEndpoint",
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return new ShimmyChannel(channel, options.signal);
}

export function openChannel(nameOrOptions: string | OpenOptions, options: Omit<OpenOptions, 'namespace' | 'name'> = {}): ShimmyChannel {
  let opts: OpenOptions;
  if (typeof nameOrOptions === 'string') {
    const injected = readInjectedChannel(nameOrOptions, options.env ?? process.env);
    opts = {
      ...options,
      namespace: injected.namespace,
      name: injected.name,
      uid: injected.uid,
      ...(injected.file ? { file: injected.file } : {}),
      ...(injected.owner ? { owner: injected.owner } : {}),
      create: options.create === true ? injected.config : options.create,
    };
  } else {
    opts = nameOrOptions;
  }
  const ref: ChannelRef = { namespace: opts.namespace, name: opts.name, ...(opts.uid ? { uid: opts.uid } : {}) };
  if (opts.file && opts.create) {
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      `Channel ${opts.namespace}/${opts.name}: \`file\` and \`create\` exclude each other`,
      'The node agent makes memory files; open the file without create',
    );
  }
  const channel = opts.file
    ? Channel.openFile(ref, opts.file)
    : opts.create
      ? Channel.openOrCreate(ref, { ...(opts.create === true ? {} : opts.create), ...(opts.owner ? { owner: opts.owner } : {}) })
      : Channel.open(ref, opts.owner ? { owner: opts.owner } : {});
  return new ShimmyChannel(channel, opts.signal);
}
