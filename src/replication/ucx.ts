/**
 * A message link between hosts over UCX (native/shimmy_ucx.c): RDMA where the NIC has it, TCP
 * otherwise, through the same calls. A UcxWorker is one UCP worker: it listens, accepts and
 * connects peers, and sends and receives tagged messages, each call blocking its thread for
 * at most its timeout. Run it on a thread of its own (a worker thread), never the event loop:
 * every call of one UcxWorker must come from the thread that opened it.
 */
import { readdirSync } from 'node:fs';
import { constants } from 'node:os';
import koffi from 'koffi';
import { ErrorCode, ShimmyError } from '../errors.js';
import { nativeLibrary } from '../native-library.js';
import { linkKey } from './replication-key.js';

const EXPECTED_ABI = 8;
const { ETIMEDOUT, ECONNRESET, EINVAL, EMSGSIZE, ENODEV, EAGAIN, EBADMSG } = constants.errno;

export interface UcxOptions {
  /** UCX transports to use (UCX_TLS syntax, e.g. "tcp" or "rc,ud"); empty: UCX chooses, or $UCX_TLS. */
  tls?: string;
  /** Network devices (UCX_NET_DEVICES syntax, e.g. "eth0" or "mlx5_0:1"); empty: all, or $UCX_NET_DEVICES. */
  devices?: string;
  /**
   * The cluster's replication key (replication-key.ts): every message sent then ends in a MAC
   * under it, and a message received without a valid one fails with UNAUTHENTICATED.
   */
  key?: Uint8Array;
}

/** A connected peer: an index into the worker's endpoints. */
export type UcxPeer = number;

export interface Received {
  length: number;
  tag: bigint;
}

let bound: ReturnType<typeof bind> | undefined;

/**
 * UCX settings read from the environment when the library loads or a context starts, set
 * here unless the environment sets them:
 * - UCX's memory hooks patch malloc and mmap in the whole process (to keep its registration
 *   cache right), and V8's heap does not survive them: a Node.js process with them crashed in
 *   V8 (SIGSEGV in a memcpy) in about one run of three. UCX then registers memory without a
 *   cache.
 * - A listener binds with SO_REUSEADDR, so a restarted agent listens again at once although
 *   its last connections are still in TIME_WAIT.
 * - Frames go eagerly: the send completes once the data left, not once the receiver's loop
 *   has matched it, which a rendezvous waits for (with TCP's default threshold, a 20 KB frame
 *   did), a handshake per frame. With an RDMA device (an entry in /sys/class/infiniband) only
 *   frames of batched messages (up to BATCH_BYTES, 64 KiB, with their MAC) do, and a larger
 *   message (a frame of its own) goes by rendezvous, straight into the receiver's buffer; over
 *   TCP there is no such zero-copy path, and every frame goes eagerly. What a receiver holds
 *   that way is bounded by its senders' windows (a channel's capacity and a ring per peer).
 *   16-byte messages across two hosts: 1.7–2.0 M/s with TCP's default, 2.3–3.2 M/s with
 *   64 KiB; 100 KB messages: 629–633 MB/s with 64 KiB, 842–931 MB/s with all eager
 *   (bench --remote).
 * A worker thread's process.env is a copy that C code does not see: call this on the main
 * thread before a worker thread loads UCX.
 */
const ucxDefaults = (): Record<string, string> => ({
  UCX_MEM_MALLOC_HOOKS: 'no',
  UCX_MEM_EVENTS: 'no',
  UCX_CM_REUSEADDR: 'y',
  UCX_RNDV_THRESH: hasRdmaDevice() ? '65k' : 'inf',
});

/** Whether this host has an RDMA (verbs) device: InfiniBand, RoCE or iWARP. */
function hasRdmaDevice(): boolean {
  try {
    return readdirSync('/sys/class/infiniband').length > 0;
  } catch {
    return false;
  }
}

export function applyUcxDefaults(): void {
  for (const [name, value] of Object.entries(ucxDefaults())) process.env[name] ??= value;
}

function bind() {
  applyUcxDefaults();
  const lib = koffi.load(nativeLibrary('libshimmy_ucx.so', 'Install UCX (`bash scripts/ucx-deps.sh`: Debian libucx-dev) and build with `npm run build`'));
  koffi.opaque('shimmy_ucx');
  const fn = {
    abi: lib.func('int shimmy_ucx_abi_version(void)'),
    create: lib.func('int shimmy_ucx_create(_Out_ shimmy_ucx **out, const char *tls, const char *devices)'),
    listen: lib.func('int shimmy_ucx_listen(shimmy_ucx *u, const char *ip, int port)'),
    accept: lib.func('int shimmy_ucx_accept(shimmy_ucx *u, int timeout_ms)'),
    tryAccept: lib.func('int shimmy_ucx_try_accept(shimmy_ucx *u)'),
    peerStatus: lib.func('int shimmy_ucx_peer_status(shimmy_ucx *u, int peer)'),
    closePeer: lib.func('int shimmy_ucx_close_peer(shimmy_ucx *u, int peer, int timeout_ms)'),
    connect: lib.func('int shimmy_ucx_connect(shimmy_ucx *u, const char *ip, int port, int timeout_ms)'),
    send: lib.func('int shimmy_ucx_send(shimmy_ucx *u, int peer, uint64_t tag, const void *buf, uint64_t len, int timeout_ms)'),
    recv: lib.func('int64_t shimmy_ucx_recv(shimmy_ucx *u, uint64_t tag, uint64_t mask, void *buf, uint64_t cap, int timeout_ms, _Out_ uint64_t *sender_tag)'),
    tryRecv: lib.func(
      'int64_t shimmy_ucx_try_recv(shimmy_ucx *u, uint64_t tag, uint64_t mask, void *buf, uint64_t cap, int timeout_ms, _Out_ uint64_t *sender_tag)',
    ),
    flush: lib.func('int shimmy_ucx_flush(shimmy_ucx *u, int timeout_ms)'),
    describe: lib.func('int shimmy_ucx_describe(shimmy_ucx *u, int peer, void *out, int cap)'),
    lastError: lib.func('const char *shimmy_ucx_last_error(shimmy_ucx *u)'),
    setKey: lib.func('int shimmy_ucx_set_key(shimmy_ucx *u, const void *key, uint64_t len)'),
    macBytes: lib.func('int shimmy_ucx_mac_bytes(void)'),
    wait: lib.func('int shimmy_ucx_wait(shimmy_ucx *u, int timeout_us, int also_fd)'),
    destroy: lib.func('void shimmy_ucx_destroy(shimmy_ucx *u, int timeout_ms)'),
  };
  const abi = fn.abi() as number;
  if (abi !== EXPECTED_ABI)
    throw new ShimmyError(
      ErrorCode.NATIVE_UNAVAILABLE,
      `libshimmy_ucx ABI ${abi} does not match the expected ${EXPECTED_ABI}`,
      'Rebuild it with `npm run build`',
    );
  return fn;
}

const native = () => (bound ??= bind());

/** Whether the UCX library can be loaded here (UCX installed and the shim built). */
export function ucxAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

/**
 * The transports an endpoint uses, from UCX's description of its lanes: the
 * "transport/device" pairs, e.g. ["tcp/eth0"] or ["rc_mlx5/mlx5_0:1"], without repeats.
 */
export function transportsOf(description: string): string[] {
  const found = new Set<string>();
  for (const m of description.matchAll(/lane\[\d+\]:\s+\d+:(\S+?)\/(\S+?)[\s.]/g)) found.add(`${m[1]}/${m[2]}`);
  return [...found];
}

export class UcxWorker {
  private handle: unknown;
  /** The bytes a receive buffer needs beyond the largest message (the MAC, with a key). */
  readonly overhead: number;

  private constructor(handle: unknown, keyed: boolean) {
    this.handle = handle;
    this.overhead = keyed ? (native().macBytes() as number) : 0;
  }

  static open(options: UcxOptions = {}): UcxWorker {
    const out: unknown[] = [null];
    const rc = native().create(out, options.tls ?? '', options.devices ?? '') as number;
    if (rc < 0) {
      const asked = `transports ${options.tls || process.env.UCX_TLS || '(any)'} on devices ${options.devices || process.env.UCX_NET_DEVICES || '(any)'}`;
      throw new ShimmyError(
        rc === -EINVAL ? ErrorCode.INVALID_ARGUMENT : ErrorCode.TRANSPORT_FAILED,
        rc === -EINVAL ? `UCX refused the setting of ${asked}` : rc === -ENODEV ? `UCX found no usable ${asked}` : `UCX did not start (error ${rc})`,
        '`ucx_info -d` lists the transports and devices of this host',
      );
    }
    if (options.key) {
      const key = linkKey(options.key);
      const set = native().setKey(out[0], key, BigInt(key.length)) as number;
      if (set < 0) {
        const detail = native().lastError(out[0]) as string;
        native().destroy(out[0], 0);
        throw new ShimmyError(
          ErrorCode.TRANSPORT_FAILED,
          `the link key was not taken: ${detail || `error ${set}`}`,
          'Check the OpenSSL library (libcrypto) of this host',
        );
      }
    }
    return new UcxWorker(out[0], !!options.key);
  }

  private get h(): unknown {
    if (!this.handle) throw new ShimmyError(ErrorCode.CLOSED, 'The UCX worker is closed', 'Open a new one');
    return this.handle;
  }

  private check(rc: number, what: string): number {
    if (rc >= 0) return rc;
    const detail = native().lastError(this.h) as string;
    if (-rc === ETIMEDOUT) throw new ShimmyError(ErrorCode.TIMEOUT, `${what} timed out`, 'The peer did not answer in time; retry or check the link');
    if (-rc === ECONNRESET) throw new ShimmyError(ErrorCode.PEER_UNAVAILABLE, `${what}: the peer is gone (${detail})`, 'Connect again once the peer is back');
    if (-rc === EBADMSG)
      throw new ShimmyError(
        ErrorCode.UNAUTHENTICATED,
        `${what}: ${detail}`,
        "Every agent of the cluster must use the same replication key (the chart's Secret)",
      );
    if (-rc === EMSGSIZE) throw new ShimmyError(ErrorCode.MESSAGE_TOO_LARGE, `${what}: ${detail}`, 'Receive into a buffer as large as the largest message');
    if (-rc === EINVAL) throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `${what}: invalid argument`, 'Use an IPv4 address and a connected peer');
    throw new ShimmyError(ErrorCode.TRANSPORT_FAILED, `${what} failed: ${detail || `error ${rc}`}`, '`ucx_info -d` lists what UCX can use on this host');
  }

  /** Listens on ip:port (0: any free port); returns the port. */
  listen(ip: string, port = 0): number {
    return this.check(native().listen(this.h, ip, port) as number, `listening on ${ip}:${port}`);
  }

  accept(timeoutMs: number): UcxPeer {
    return this.check(native().accept(this.h, timeoutMs) as number, 'waiting for a peer');
  }

  /** A peer whose connection request has arrived, or null without waiting. */
  tryAccept(): UcxPeer | null {
    const rc = native().tryAccept(this.h) as number;
    return rc === -EAGAIN ? null : this.check(rc, 'accepting a peer');
  }

  /** Whether a peer's endpoint still works (false once it failed: the peer died or the link was cut). */
  isHealthy(peer: UcxPeer): boolean {
    return (native().peerStatus(this.h, peer) as number) === 0;
  }

  /** Closes a peer's endpoint (at once if it failed) and frees its index for a later peer. */
  closePeer(peer: UcxPeer, timeoutMs = 1000): void {
    this.check(native().closePeer(this.h, peer, timeoutMs) as number, 'closing a peer');
  }

  connect(ip: string, port: number, timeoutMs: number): UcxPeer {
    return this.check(native().connect(this.h, ip, port, timeoutMs) as number, `connecting to ${ip}:${port}`);
  }

  /**
   * Sends `data` tagged `tag`: copies it and returns, with up to 16 sends in flight (the
   * oldest must finish within `timeoutMs` before another starts). Messages to one peer keep
   * their order. A failure shows on a later send to that peer (never another), or on flush().
   */
  send(peer: UcxPeer, tag: bigint, data: Uint8Array, timeoutMs: number): void {
    this.check(native().send(this.h, peer, tag, data, BigInt(data.byteLength), timeoutMs) as number, 'sending');
  }

  /**
   * Progresses the worker, then sleeps until something arrives, up to `timeoutUs`
   * microseconds: an idle loop's wait that wakes at once for the network, and for `alsoFd`
   * (a FutexWatcher's) when given. True when something happened.
   */
  wait(timeoutUs: number, alsoFd = -1): boolean {
    return (native().wait(this.h, Math.round(timeoutUs), alsoFd) as number) > 0;
  }

  /** Waits until every send in flight has finished. */
  flush(timeoutMs: number): void {
    this.check(native().flush(this.h, timeoutMs) as number, 'flushing sends');
  }

  /** Receives the next message whose tag matches `tag` under `mask` into `into`. */
  recv(tag: bigint, mask: bigint, into: Uint8Array, timeoutMs: number): Received {
    const sender: bigint[] = [0n];
    const n = native().recv(this.h, tag, mask, into, BigInt(into.byteLength), timeoutMs, sender) as number | bigint;
    const length = this.check(Number(n), 'receiving');
    return { length, tag: BigInt(sender[0]!) };
  }

  /**
   * The next message whose tag matches, if one has arrived, or null without waiting (a large
   * message found is then received in full, up to `timeoutMs`).
   */
  tryRecv(tag: bigint, mask: bigint, into: Uint8Array, timeoutMs: number): Received | null {
    const sender: bigint[] = [0n];
    const n = Number(native().tryRecv(this.h, tag, mask, into, BigInt(into.byteLength), timeoutMs, sender) as number | bigint);
    if (n === -EAGAIN) return null;
    return { length: this.check(n, 'receiving'), tag: BigInt(sender[0]!) };
  }

  /** UCX's description of a peer's endpoint (its lanes and transports). */
  describe(peer: UcxPeer): string {
    const out = Buffer.alloc(16384);
    const n = this.check(native().describe(this.h, peer, out, out.length) as number, 'describing a peer');
    return out.subarray(0, n).toString('utf8');
  }

  /** Closes every endpoint (flushing what was sent, up to `timeoutMs`) and the worker. */
  close(timeoutMs = 1000): void {
    if (!this.handle) return;
    native().destroy(this.handle, timeoutMs);
    this.handle = null;
  }
}
