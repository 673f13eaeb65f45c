/**
 * Aeron as an external benchmark peer: two JVMs running bench/peers/aeron's AeronBench over
 * `aeron:ipc`, the subscriber (or ponger) with an embedded media driver in a private directory
 * under /dev/shm, the publisher (or pinger) connected to it. The programs report their
 * checksums over every payload byte on both sides, and a run whose receiver did not get exactly
 * what was sent fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExternalCheck, ExternalLatency, ExternalPeer, ExternalThroughput } from './external.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/?$/, '');
export const AERON_BUILD = join(ROOT, '.cache/peers/aeron');
const JAR = join(AERON_BUILD, 'aeron-bench.jar');
const LIB = join(AERON_BUILD, 'lib');
const MAIN = 'dev.shimmy.bench.aeron.AeronBench';

/**
 * Aeron's sample scripts' JVM options (aeron-samples/scripts/java-common: the opens Agrona needs on
 * Java 17, no bounds checks), with sun.nio.ch opened too and a small heap.
 */
const JVM_OPTIONS = [
  '-XX:+UnlockExperimentalVMOptions',
  '-XX:+TrustFinalNonStaticFields',
  '-XX:+UseParallelGC',
  '-Xmx256m',
  '--add-opens',
  'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util.zip=ALL-UNNAMED',
  '--add-opens',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '-Dagrona.disable.bounds.checks=true',
];

/** The aeron-all version that setup.sh resolved, from its jar's name. */
export function aeronVersion(): string | null {
  if (!existsSync(LIB)) return null;
  const jar = readdirSync(LIB).find((f) => /^aeron-all-.+\.jar$/.test(f));
  return jar ? jar.slice('aeron-all-'.length, -'.jar'.length) : null;
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  return null;
}

/** Same rule as runner.ts's warmupCount: untimed messages before each throughput run. */
function warmupCount(size: number, count: number): number {
  return Math.min(count, 100_000, Math.max(200, Math.floor(50e6 / size)));
}

/** A fresh Aeron directory for one run; the media driver creates it and deletes it on close. */
function aeronDir(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return join(base, `shimmy-aeron-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Stage time limits within an overall one (the runner's own bound is the budget + 120 s). */
function deadline(ms: number): (stageMs: number) => number {
  const until = Date.now() + ms;
  return (stageMs) => Math.max(1, Math.min(stageMs, until - Date.now()));
}

interface Event {
  event: string;
  [key: string]: unknown;
}

/** One AeronBench process: its JSON events from stdout, in order; commands on stdin. */
class JavaProgram {
  readonly child: ChildProcess;
  private readonly queue: Event[] = [];
  private readonly waiters: Array<{ event: string; resolve: (e: Event) => void; reject: (err: Error) => void }> = [];
  private failure: Error | null = null;
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(
    private readonly role: string,
    args: Array<string | number>,
  ) {
    this.child = spawn('java', [...JVM_OPTIONS, '-cp', `${JAR}:${LIB}/*`, MAIN, role, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => {});
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      let e: Event;
      try {
        e = JSON.parse(line) as Event;
      } catch {
        return;
      }
      if (e.event === 'error') this.fail(new Error(`Aeron ${this.role} failed: ${String(e.message)}`));
      else this.deliver(e);
    });
    // 'close' comes after the last stdout line, so a final event is never lost to it.
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', () => resolve());
    });
    this.child.once('error', (err) => this.fail(new Error(`Aeron ${this.role} could not start: ${err.message}`)));
    this.child.once('close', (code, signal) => this.fail(new Error(`Aeron ${this.role} exited with ${code ?? signal}${this.stderrTail()}`)));
  }

  private stderrTail(): string {
    const lines = this.stderr.trim().split('\n').slice(-6).join('\n');
    return lines ? `:\n${lines}` : '';
  }

  private deliver(e: Event): void {
    const i = this.waiters.findIndex((w) => w.event === e.event);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(e);
    else this.queue.push(e);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /** The next event named `event` (earlier events of other names stay queued). */
  next<T extends Event>(event: string, ms: number, what: string): Promise<T> {
    const i = this.queue.findIndex((e) => e.event === event);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as T);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`${what} timed out after ${ms} ms${this.stderrTail()}`));
      }, ms);
      const waiter = {
        event,
        resolve: (e: Event) => {
          clearTimeout(timer);
          resolve(e as T);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(waiter);
    });
  }

  send(line: string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${line}\n`);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** Ends its stdin (it then closes Aeron and exits); SIGKILL after `ms`. */
  async close(ms: number): Promise<void> {
    this.child.stdin?.end();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    this.kill();
    await this.exited;
  }
}

/** Stops the programs (gracefully after a good run, SIGKILL after a failed one) and removes the directory. */
async function finish(programs: Array<JavaProgram | null>, dir: string, ok: boolean): Promise<void> {
  for (const p of programs) {
    if (!p) continue;
    if (ok) await p.close(3000);
    else {
      p.kill();
      await p.close(1000);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface PubDone extends Event {
  sent: number;
  startNs: string;
  endNs: string;
  backPressured: number;
  checksum: string;
}

export interface SubDone extends Event {
  received: number;
  bytes: number;
  lastNs: string;
  checksum: string;
}

export interface AeronThroughput extends ExternalThroughput {
  sent: number;
  /** The publisher's sum over the bytes it sent and the subscriber's over those it got (hex). */
  sentChecksum: string;
  receivedChecksum: string;
  /** Offers or claims the publisher retried because the subscriber was behind. */
  backPressured: number;
}

/** Checks that the subscriber got exactly what the publisher sent, and computes the rates. */
export function throughputResult(count: number, p: PubDone, s: SubDone): AeronThroughput {
  if (s.received !== p.sent) throw new Error(`Aeron subscriber received ${s.received} of ${p.sent} messages`);
  if (s.checksum !== p.checksum) throw new Error(`Aeron checksum mismatch: publisher sent ${p.checksum}, subscriber summed ${s.checksum}`);
  const seconds = Math.max(1e-9, Number(BigInt(s.lastNs) - BigInt(p.startNs)) / 1e9);
  return {
    msgsPerSec: s.received / seconds,
    mbPerSec: s.bytes / seconds / 1e6,
    delivered: s.received,
    truncated: p.sent < count,
    sent: p.sent,
    sentChecksum: p.checksum,
    receivedChecksum: s.checksum,
    backPressured: p.backPressured,
  };
}

/** One throughput run: subscriber + driver first, then the publisher; timed from "go" to the last message. */
export async function aeronThroughput(size: number, count: number, budgetMs: number): Promise<AeronThroughput> {
  const dir = aeronDir();
  const within = deadline(budgetMs + 100_000);
  const warmup = warmupCount(size, count);
  const sub = new JavaProgram('throughput-sub', [dir, size, count, warmup]);
  let pub: JavaProgram | null = null;
  let ok = false;
  try {
    await sub.next('ready', within(30_000), 'Aeron subscriber start (embedded media driver)');
    pub = new JavaProgram('throughput-pub', [dir, size, count, warmup, budgetMs]);
    await pub.next('warm', within(60_000), 'Aeron publisher warm-up');
    await sub.next('warm', within(30_000), `Aeron subscriber warm-up (${warmup} messages)`);
    pub.send('go');
    const p = await pub.next<PubDone>('done', within(budgetMs + 30_000), 'Aeron publisher');
    sub.send(`expect ${p.sent}`);
    const grace = Math.max(5000, budgetMs);
    const stop = setTimeout(() => sub.send('stop'), grace).unref();
    const s = await sub.next<SubDone>('done', within(grace + 10_000), 'Aeron subscriber').finally(() => clearTimeout(stop));
    const result = throughputResult(count, p, s);
    ok = true;
    return result;
  } finally {
    await finish([pub, sub], dir, ok);
  }
}

export interface PingDone extends Event {
  sent: number;
  replies: number;
  sentChecksum: string;
  replyChecksum: string;
  oneWayUs: number[];
}

export interface PongDone extends Event {
  received: number;
  checksum: string;
}

export interface AeronLatency extends ExternalLatency {
  /** Round trips, warm-up included, and the checksums of the pings sent, echoed and received. */
  sent: number;
  sentChecksum: string;
  pongChecksum: string;
  replyChecksum: string;
}

/** Checks that every ping came back, byte for byte, and the ponger saw each once. */
export function latencyResult(r: PingDone, pong: PongDone): AeronLatency {
  if (r.replies !== r.sent || pong.received !== r.sent)
    throw new Error(`Aeron ping sent ${r.sent}, pong received ${pong.received}, ping got ${r.replies} replies`);
  if (pong.checksum !== r.sentChecksum || r.replyChecksum !== r.sentChecksum)
    throw new Error(`Aeron checksum mismatch: ping sent ${r.sentChecksum}, pong summed ${pong.checksum}, replies summed ${r.replyChecksum}`);
  return { oneWayUs: r.oneWayUs, sent: r.sent, sentChecksum: r.sentChecksum, pongChecksum: pong.checksum, replyChecksum: r.replyChecksum };
}

/** One ping-pong run: ponger + driver first, then the pinger; one-way = round trip / 2. */
export async function aeronLatency(size: number, samples: number, budgetMs: number): Promise<AeronLatency> {
  const dir = aeronDir();
  const within = deadline(budgetMs + 100_000);
  const pong = new JavaProgram('pong', [dir]);
  let ping: JavaProgram | null = null;
  let ok = false;
  try {
    await pong.next('ready', within(30_000), 'Aeron ponger start (embedded media driver)');
    ping = new JavaProgram('ping', [dir, size, samples, budgetMs]);
    const r = await ping.next<PingDone>('done', within(budgetMs + 60_000), 'Aeron pinger');
    pong.send('stop');
    const p = await pong.next<PongDone>('done', within(10_000), 'Aeron ponger');
    const result = latencyResult(r, p);
    ok = true;
    return result;
  } finally {
    await finish([ping, pong], dir, ok);
  }
}

export const aeron: ExternalPeer = {
  name: 'aeron',
  get description() {
    return (
      `Aeron ${aeronVersion() ?? '(not built)'} (Java, Maven Central) over aeron:ipc between two JVMs; ` +
      'embedded media driver in the subscriber/ponger process (ThreadingMode.SHARED: one driver thread, idling with BackoffIdleStrategy, ' +
      'since IPC data bypasses the driver and a dedicated spinning driver would take a core of two; 8 KiB IPC MTU) ' +
      'in a private directory under /dev/shm; ExclusivePublication.tryClaim for messages within one frame, offer otherwise; ' +
      'Subscription.poll with a FragmentAssembler, fragment limit 10; log buffers pre-touched; receivers sum every payload byte'
    );
  },
  idle: 'BusySpinIdleStrategy (publisher, subscriber, ping, pong); media driver: BackoffIdleStrategy',
  check(): ExternalCheck {
    if (!which('java')) return { ok: false, reason: 'java is not installed; install it with `bash bench/peers/setup.sh`' };
    if (!existsSync(JAR) || !aeronVersion()) return { ok: false, reason: "Aeron's benchmark program is not built; build it with `bash bench/peers/setup.sh`" };
    return { ok: true };
  },
  throughput: aeronThroughput,
  latency: aeronLatency,
};
