/**
 * Starts and stops the broker peers for one benchmark invocation, each on a free port in a
 * scratch directory, on this host's loopback or on another host (`shimmy bench --remote`: a
 * network namespace). A peer whose program is missing is reported with the command that
 * installs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/free-port.js';

/** The package root, from bench/ (vitest) or dist/bench/ (compiled). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/dist\/?$/, '');
export const INSTALL_HINT = 'bash bench/peers/setup.sh';
const KAFKA_LIBS = join(ROOT, '.cache/peers/kafka/libs');

export interface RunningPeer {
  endpoints: Record<string, string>;
  stop(): Promise<void>;
}

export type PeerCheck = { ok: true } | { ok: false; reason: string };

/** Where a broker runs: the address it listens on (and clients use), and how to run a program there. */
export interface PeerHost {
  address: string;
  /** The command line that runs `program args` there. */
  run(program: string, args: string[]): [string, string[]];
  /** Whether something listens on `port` there. */
  listening(port: number): Promise<boolean>;
}

export const LOCAL_HOST: PeerHost = {
  address: '127.0.0.1',
  run: (program, args) => [program, args],
  listening: (port) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    }),
};

function spawnOn(host: PeerHost, program: string, args: string[]): ChildProcess {
  const [cmd, argv] = host.run(program, args);
  return spawn(cmd, argv, { stdio: 'ignore' });
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

async function waitForPort(host: PeerHost, port: number, child: ChildProcess, ms: number, name: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} during start-up`);
    if (await host.listening(port)) return;
    if (Date.now() > until) throw new Error(`${name} did not open port ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

interface PeerDef {
  check(): PeerCheck;
  start(host: PeerHost): Promise<RunningPeer>;
}

const missing = (what: string): PeerCheck => ({ ok: false, reason: `${what} is not installed; install it with \`${INSTALL_HINT}\`` });

const PEERS: Record<string, PeerDef> = {
  mosquitto: {
    check: () => (which('mosquitto') ? { ok: true } : missing('mosquitto')),
    async start(host) {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-mosquitto-'));
      const port = await freePort();
      writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} ${host.address}\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n`);
      const child = spawnOn(host, which('mosquitto')!, ['-c', join(dir, 'mosquitto.conf')]);
      await waitForPort(host, port, child, 10_000, 'mosquitto');
      return { endpoints: { mosquitto: `${host.address}:${port}` }, stop: stopper(child, dir) };
    },
  },
  nats: {
    check: () => (which('nats-server') ? { ok: true } : missing('nats-server')),
    async start(host) {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-nats-'));
      const port = await freePort();
      const child = spawnOn(host, which('nats-server')!, ['-a', host.address, '-p', String(port)]);
      await waitForPort(host, port, child, 10_000, 'nats-server');
      return { endpoints: { nats: `${host.address}:${port}` }, stop: stopper(child, dir) };
    },
  },
  redis: {
    check: () => (which('redis-server') ? { ok: true } : missing('redis-server')),
    async start(host) {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-redis-'));
      const port = await freePort();
      const child = spawnOn(host, which('redis-server')!, [
        '--port',
        String(port),
        '--bind',
        host.address,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--client-output-buffer-limit',
        'pubsub 0 0 0',
        // Without a password Redis refuses clients from other hosts unless told (bench --remote).
        '--protected-mode',
        'no',
      ]);
      await waitForPort(host, port, child, 10_000, 'redis-server');
      return { endpoints: { redis: `${host.address}:${port}` }, stop: stopper(child, dir) };
    },
  },
  kafka: {
    check: () => {
      if (!which('java')) return missing('java (for Kafka)');
      if (!existsSync(KAFKA_LIBS) || !readdirSync(KAFKA_LIBS).some((f) => f.startsWith('kafka_2.13'))) return missing('Kafka (jars from Maven Central)');
      return { ok: true };
    },
    async start(host) {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-kafka-'));
      const [port, cport] = [await freePort(), await freePort()];
      const props = join(dir, 'server.properties');
      writeFileSync(
        props,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@${host.address}:${cport}`,
          `listeners=PLAINTEXT://${host.address}:${port},CONTROLLER://${host.address}:${cport}`,
          `advertised.listeners=PLAINTEXT://${host.address}:${port}`,
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          `log.dirs=${join(dir, 'data')}`,
          'num.partitions=1',
          'offsets.topic.replication.factor=1',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          'group.initial.rebalance.delay.ms=0',
          'message.max.bytes=2097152',
          'auto.create.topics.enable=true',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'log4j.properties'),
        'log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n',
      );
      const java = ['-Xmx1g', `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`, '-cp', `${KAFKA_LIBS}/*`];
      await new Promise<void>((resolve, reject) => {
        const fmt = spawnOn(host, 'java', [...java, 'kafka.tools.StorageTool', 'format', '-t', 'c2hpbW15LWJlbmNoLTAwMQ', '-c', props]);
        fmt.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kafka storage format exited with ${code}`))));
      });
      const child = spawnOn(host, 'java', [...java, 'kafka.Kafka', props]);
      await waitForPort(host, port, child, 60_000, 'kafka');
      return { endpoints: { kafka: `${host.address}:${port}` }, stop: stopper(child, dir) };
    },
  },
};

export function checkPeer(transport: string): PeerCheck {
  return PEERS[transport]?.check() ?? { ok: true };
}

export async function startPeer(transport: string, host: PeerHost = LOCAL_HOST): Promise<RunningPeer> {
  const def = PEERS[transport];
  if (def) return def.start(host);
  return { endpoints: {}, stop: async () => {} };
}
