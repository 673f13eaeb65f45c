/**
 * Starts and stops the broker peers for one benchmark invocation, each on a free loopback
 * port in a scratch directory. A peer whose program is missing is reported with the command
 * that installs it.
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

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

async function waitForPort(port: number, child: ChildProcess, ms: number, name: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} during start-up`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
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
  start(): Promise<RunningPeer>;
}

const missing = (what: string): PeerCheck => ({ ok: false, reason: `${what} is not installed; install it with \`${INSTALL_HINT}\`` });

const PEERS: Record<string, PeerDef> = {
  mosquitto: {
    check: () => (which('mosquitto') ? { ok: true } : missing('mosquitto')),
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-mosquitto-'));
      const port = await freePort();
      writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n`);
      const child = spawn(which('mosquitto')!, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
      await waitForPort(port, child, 10_000, 'mosquitto');
      return { endpoints: { mosquitto: `127.0.0.1:${port}` }, stop: stopper(child, dir) };
    },
  },
  nats: {
    check: () => (which('nats-server') ? { ok: true } : missing('nats-server')),
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-nats-'));
      const port = await freePort();
      const child = spawn(which('nats-server')!, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      await waitForPort(port, child, 10_000, 'nats-server');
      return { endpoints: { nats: `127.0.0.1:${port}` }, stop: stopper(child, dir) };
    },
  },
  redis: {
    check: () => (which('redis-server') ? { ok: true } : missing('redis-server')),
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-redis-'));
      const port = await freePort();
      const child = spawn(
        which('redis-server')!,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--client-output-buffer-limit', 'pubsub 0 0 0'],
        { stdio: 'ignore' },
      );
      await waitForPort(port, child, 10_000, 'redis-server');
      return { endpoints: { redis: `127.0.0.1:${port}` }, stop: stopper(child, dir) };
    },
  },
  kafka: {
    check: () => {
      if (!which('java')) return missing('java (for Kafka)');
      if (!existsSync(KAFKA_LIBS) || !readdirSync(KAFKA_LIBS).some((f) => f.startsWith('kafka_2.13'))) return missing('Kafka (jars from Maven Central)');
      return { ok: true };
    },
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'shimmy-kafka-'));
      const [port, cport] = [await freePort(), await freePort()];
      const props = join(dir, 'server.properties');
      writeFileSync(
        props,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.voters=1@127.0.0.1:${cport}`,
          `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}`,
          `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
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
        const fmt = spawn('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', 'c2hpbW15LWJlbmNoLTAwMQ', '-c', props], { stdio: 'ignore' });
        fmt.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kafka storage format exited with ${code}`))));
      });
      const child = spawn('java', [...java, 'kafka.Kafka', props], { stdio: 'ignore' });
      await waitForPort(port, child, 60_000, 'kafka');
      return { endpoints: { kafka: `127.0.0.1:${port}` }, stop: stopper(child, dir) };
    },
  },
};

export function checkPeer(transport: string): PeerCheck {
  return PEERS[transport]?.check() ?? { ok: true };
}

export async function startPeer(transport: string): Promise<RunningPeer> {
  const def = PEERS[transport];
  if (def) return def.start();
  return { endpoints: {}, stop: async () => {} };
}
